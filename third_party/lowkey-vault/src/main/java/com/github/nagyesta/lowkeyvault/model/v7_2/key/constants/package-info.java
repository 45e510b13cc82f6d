@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_2.key.constants;

import org.jspecify.annotations.NullMarked;
