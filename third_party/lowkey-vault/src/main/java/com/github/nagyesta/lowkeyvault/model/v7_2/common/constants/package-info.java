@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_2.common.constants;

import org.jspecify.annotations.NullMarked;
