@NullMarked
package com.github.nagyesta.lowkeyvault;

import org.jspecify.annotations.NullMarked;
