@NullMarked
package com.github.nagyesta.lowkeyvault.model;

import org.jspecify.annotations.NullMarked;
