package com.github.nagyesta.lowkeyvault.service.certificate.impl;

import com.github.nagyesta.lowkeyvault.model.v7_2.key.constants.KeyCurveName;
import com.github.nagyesta.lowkeyvault.model.v7_2.key.constants.KeyType;
import lombok.Data;
import org.jspecify.annotations.Nullable;

import java.time.OffsetDateTime;
import java.util.Set;

@Data
public class CertificatePolicy implements ReadOnlyCertificatePolicy {

    private String name;
    private CertAuthorityType certAuthorityType;
    private String subject;
    private Set<String> dnsNames;
    private Set<String> emails;
    private Set<String> upns;
    private int validityMonths;
    private OffsetDateTime validityStart;
    private CertContentType contentType;
    private boolean reuseKeyOnRenewal;
    private boolean exportablePrivateKey;
    private KeyType keyType;
    @Nullable
    private KeyCurveName keyCurveName;
    @Nullable
    private Integer keySize;
    private boolean enableTransparency;
    @Nullable
    private String certificateType;
    private Set<KeyUsageEnum> keyUsage;
    private Set<String> extendedKeyUsage;

    public CertificatePolicy(final ReadOnlyCertificatePolicy source) {
        this.name = source.getName();
        this.certAuthorityType = source.getCertAuthorityType();
        this.subject = source.getSubject();
        this.dnsNames = Set.copyOf(source.getDnsNames());
        this.emails = Set.copyOf(source.getEmails());
        this.upns = Set.copyOf(source.getUpns());
        this.validityMonths = source.getValidityMonths();
        this.validityStart = source.getValidityStart();
        this.contentType = source.getContentType();
        this.reuseKeyOnRenewal = source.isReuseKeyOnRenewal();
        this.exportablePrivateKey = source.isExportablePrivateKey();
        this.keyType = source.getKeyType();
        this.keyCurveName = source.getKeyCurveName();
        this.keySize = source.getKeySize();
        this.enableTransparency = source.isEnableTransparency();
        this.certificateType = source.getCertificateType();
        this.keyUsage = Set.copyOf(source.getKeyUsage());
        this.extendedKeyUsage = Set.copyOf(source.getExtendedKeyUsage());
    }

    public void setDnsNames(final Set<String> dnsNames) {
        this.dnsNames = Set.copyOf(dnsNames);
    }

    public void setEmails(final Set<String> emails) {
        this.emails = Set.copyOf(emails);
    }

    public void setUpns(final Set<String> upns) {
        this.upns = Set.copyOf(upns);
    }

    public void setKeyUsage(final Set<KeyUsageEnum> keyUsage) {
        this.keyUsage = Set.copyOf(keyUsage);
    }

    public void setExtendedKeyUsage(final Set<String> extendedKeyUsage) {
        this.extendedKeyUsage = Set.copyOf(extendedKeyUsage);
    }
}
