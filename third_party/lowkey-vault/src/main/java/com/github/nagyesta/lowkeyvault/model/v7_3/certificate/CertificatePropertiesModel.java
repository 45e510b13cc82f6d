package com.github.nagyesta.lowkeyvault.model.v7_3.certificate;

import com.github.nagyesta.lowkeyvault.model.v7_2.BasePropertiesModel;

public final class CertificatePropertiesModel extends BasePropertiesModel {

    public CertificatePropertiesModel() {
        this.setRecoverableDays(null);
        this.setRecoveryLevel(null);
    }
}
