@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_2.key;

import org.jspecify.annotations.NullMarked;
