@NullMarked
package com.github.nagyesta.lowkeyvault.model.v7_2.key.request;

import org.jspecify.annotations.NullMarked;
