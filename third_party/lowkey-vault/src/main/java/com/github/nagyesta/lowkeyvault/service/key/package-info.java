@NullMarked
package com.github.nagyesta.lowkeyvault.service.key;

import org.jspecify.annotations.NullMarked;
