@NullMarked
package com.github.nagyesta.lowkeyvault.mapper.v7_3.certificate;

import org.jspecify.annotations.NullMarked;
