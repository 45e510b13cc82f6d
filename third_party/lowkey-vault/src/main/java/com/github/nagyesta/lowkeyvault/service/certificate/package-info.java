@NullMarked
package com.github.nagyesta.lowkeyvault.service.certificate;

import org.jspecify.annotations.NullMarked;
