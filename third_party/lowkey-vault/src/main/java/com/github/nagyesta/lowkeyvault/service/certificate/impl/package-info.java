@NullMarked
package com.github.nagyesta.lowkeyvault.service.certificate.impl;

import org.jspecify.annotations.NullMarked;
