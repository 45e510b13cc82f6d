@NullMarked
package com.github.nagyesta.lowkeyvault.filter;

import org.jspecify.annotations.NullMarked;
