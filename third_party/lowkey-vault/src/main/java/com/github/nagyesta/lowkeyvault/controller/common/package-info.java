@NullMarked
package com.github.nagyesta.lowkeyvault.controller.common;

import org.jspecify.annotations.NullMarked;
