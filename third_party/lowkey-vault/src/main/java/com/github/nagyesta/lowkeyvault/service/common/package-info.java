@NullMarked
package com.github.nagyesta.lowkeyvault.service.common;

import org.jspecify.annotations.NullMarked;
