@NullMarked
package com.github.nagyesta.lowkeyvault.model.common;

import org.jspecify.annotations.NullMarked;
