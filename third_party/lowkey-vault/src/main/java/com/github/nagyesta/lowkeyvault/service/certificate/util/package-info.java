@NullMarked
package com.github.nagyesta.lowkeyvault.service.certificate.util;

import org.jspecify.annotations.NullMarked;
