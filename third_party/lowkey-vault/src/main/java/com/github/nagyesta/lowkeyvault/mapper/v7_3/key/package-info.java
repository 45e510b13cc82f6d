@NullMarked
package com.github.nagyesta.lowkeyvault.mapper.v7_3.key;

import org.jspecify.annotations.NullMarked;
