@NullMarked
package com.github.nagyesta.lowkeyvault.mapper.v7_2.secret;

import org.jspecify.annotations.NullMarked;
