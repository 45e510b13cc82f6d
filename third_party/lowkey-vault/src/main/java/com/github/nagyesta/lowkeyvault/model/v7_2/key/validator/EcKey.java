package com.github.nagyesta.lowkeyvault.model.v7_2.key.validator;

public interface EcKey extends BaseKey {
}
