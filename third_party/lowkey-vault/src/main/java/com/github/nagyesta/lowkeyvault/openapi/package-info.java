@NullMarked
package com.github.nagyesta.lowkeyvault.openapi;

import org.jspecify.annotations.NullMarked;
