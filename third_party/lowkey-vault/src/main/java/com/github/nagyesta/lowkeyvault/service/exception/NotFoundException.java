package com.github.nagyesta.lowkeyvault.service.exception;

import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.ResponseStatus;

@ResponseStatus(HttpStatus.NOT_FOUND)
public class NotFoundException
        extends RuntimeException {

    public NotFoundException(final String message) {
        super(message);
    }
}
