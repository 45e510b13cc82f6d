@NullMarked
package com.github.nagyesta.lowkeyvault.controller;

import org.jspecify.annotations.NullMarked;
