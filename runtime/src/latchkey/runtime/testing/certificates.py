"""Self-signed X.509 certificates for the local fakes (TLS servers, IdP app credentials)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID


def self_signed_certificate(
    key: Any,
    common_name: str,
    *,
    valid_for: datetime.timedelta = datetime.timedelta(days=1),
    alternative_names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """A certificate for `key`'s public key, signed by `key` itself (SHA-256), valid from five minutes
    ago for `valid_for`; with a SubjectAlternativeName extension when names are given."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
    )
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alternative_names)), critical=False)
    return builder.sign(key, hashes.SHA256())
