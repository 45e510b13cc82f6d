package com.github.nagyesta.lowkeyvault.model.v7_2.key;

import com.github.nagyesta.lowkeyvault.model.v7_2.BasePropertiesModel;

public final class KeyPropertiesModel extends BasePropertiesModel {

}
