@NullMarked
package com.github.nagyesta.lowkeyvault.service.secret;

import org.jspecify.annotations.NullMarked;
