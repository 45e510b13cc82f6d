"""X.509 certificates for the local fakes (TLS servers, IdP app credentials) and for clients of a
test CA (Kafka mutual TLS)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def self_signed_certificate(
    key: Any,
    common_name: str,
    *,
    valid_for: datetime.timedelta = datetime.timedelta(days=1),
    alternative_names: Sequence[x509.GeneralName] = (),
    certificate_authority: bool = False,
) -> x509.Certificate:
    """A certificate for `key`'s public key, signed by `key` itself (SHA-256), valid from five minutes
    ago for `valid_for`; with a SubjectAlternativeName extension when names are given, and marked as a
    CA that may sign certificates (`issued_certificate`) when `certificate_authority`."""
    builder = _builder(key, common_name, valid_for, alternative_names).issuer_name(_name(common_name))
    if certificate_authority:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(key, hashes.SHA256())


def issued_certificate(
    key: Any,
    common_name: str,
    *,
    issuer_key: Any,
    issuer: x509.Certificate,
    valid_for: datetime.timedelta = datetime.timedelta(days=1),
) -> x509.Certificate:
    """A TLS client certificate for `key`'s public key and `common_name`, signed by the CA `issuer`
    (whose private key is `issuer_key`), valid from five minutes ago for `valid_for`."""
    builder = (
        _builder(key, common_name, valid_for, ())
        .issuer_name(issuer.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    key: Any,
    common_name: str,
    valid_for: datetime.timedelta,
    alternative_names: Sequence[x509.GeneralName],
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
    )
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alternative_names)), critical=False)
    return builder
