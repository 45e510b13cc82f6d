package com.github.nagyesta.lowkeyvault.service.common;

public interface TimeAware {

    void timeShift(int offsetSeconds);
}
