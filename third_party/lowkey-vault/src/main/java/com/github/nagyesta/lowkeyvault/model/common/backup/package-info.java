@NullMarked
package com.github.nagyesta.lowkeyvault.model.common.backup;

import org.jspecify.annotations.NullMarked;
