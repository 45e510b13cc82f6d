@NullMarked
package com.github.nagyesta.lowkeyvault.mapper.v7_2.key;

import org.jspecify.annotations.NullMarked;
