@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_2.common;

import org.jspecify.annotations.NullMarked;
