@NullMarked
package com.github.nagyesta.lowkeyvault.service.key.constants;

import org.jspecify.annotations.NullMarked;
