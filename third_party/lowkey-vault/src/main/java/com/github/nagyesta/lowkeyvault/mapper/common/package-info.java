@NullMarked
package com.github.nagyesta.lowkeyvault.mapper.common;

import org.jspecify.annotations.NullMarked;
