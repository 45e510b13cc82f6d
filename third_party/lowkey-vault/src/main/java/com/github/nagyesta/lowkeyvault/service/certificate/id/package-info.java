@NullMarked
package com.github.nagyesta.lowkeyvault.service.certificate.id;

import org.jspecify.annotations.NullMarked;
