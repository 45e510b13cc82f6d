@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_3.key;

import org.jspecify.annotations.NullMarked;
