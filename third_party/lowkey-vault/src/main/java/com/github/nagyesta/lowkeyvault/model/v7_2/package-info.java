@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_2;

import org.jspecify.annotations.NullMarked;
