@NullMarked
package com.github.nagyesta.lowkeyvault.model.json.util;

import org.jspecify.annotations.NullMarked;
