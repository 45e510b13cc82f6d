@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_3.certificate;

import org.jspecify.annotations.NullMarked;
