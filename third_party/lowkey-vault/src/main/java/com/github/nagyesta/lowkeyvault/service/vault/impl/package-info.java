@NullMarked
package com.github.nagyesta.lowkeyvault.service.vault.impl;

import org.jspecify.annotations.NullMarked;
