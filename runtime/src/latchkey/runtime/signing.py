"""Ed25519 signatures on connector commands: flow-engine signs, connectors verify.

The private key lives in flow-engine's settings or a mounted file, never on the bus; a connector is
configured with the control plane's public key(s), by key id, so keys can be rotated.

Keys are read and written with `cryptography`; signatures are made and checked with libsodium (PyNaCl).
It checks an Ed25519 signature in about half OpenSSL's time (60 against 110 µs here: a tenth of a noop
command's CPU) and refuses non-canonical signatures and small-order keys that OpenSSL would accept;
it signs in ~18 µs against OpenSSL's ~27 (Ed25519 signatures are deterministic: the same bytes).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from latchkey.contracts import ConnectorCommand, utcnow

C = TypeVar("C", bound=ConnectorCommand)


class CommandRefused(Exception):
    """A command that must not be executed; `code` is machine-readable, the message says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def generate_private_key() -> str:
    """A new Ed25519 private key as base64 of its 32 raw bytes."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def load_private_key(text: str) -> Ed25519PrivateKey:
    """From base64 raw bytes or a PEM (PKCS#8) document."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key must be an Ed25519 key")
        return key
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the signing key must be base64 of 32 raw Ed25519 bytes, or PEM") from exc


def load_private_key_file(path: Path) -> Ed25519PrivateKey:
    return load_private_key(path.read_text())


def public_key_of(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the control-plane key must be an Ed25519 public key")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the public key must be base64 of 32 raw Ed25519 bytes, or PEM") from exc


class CommandSigner:
    def __init__(self, private_key: Ed25519PrivateKey, key_id: str = "default") -> None:
        self._key = SigningKey(
            private_key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        )
        self.key_id = key_id

    def sign(self, command: C) -> C:
        """A copy of `command` stamped with this key id and its signature."""
        unsigned = command.model_copy(update={"key_id": self.key_id, "signature": ""})
        signature = self._key.sign(unsigned.signing_payload()).signature
        signed: C = unsigned.model_copy(update={"signature": base64.b64encode(signature).decode()})
        return signed


class CommandVerifier:
    def __init__(self, public_keys: dict[str, Ed25519PublicKey], *, clock_skew_seconds: float = 30.0) -> None:
        if not public_keys:
            raise ValueError("at least one control-plane public key is required")
        self._keys = {
            key_id: VerifyKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
            for key_id, key in public_keys.items()
        }
        self._skew = clock_skew_seconds

    def verify(self, command: ConnectorCommand, *, now: datetime | None = None) -> None:
        """Raise CommandRefused unless the signature verifies and the command is inside its window."""
        key = self._keys.get(command.key_id)
        if key is None:
            raise CommandRefused("unknown_key", f"command signed with unknown key id {command.key_id!r}")
        try:
            key.verify(command.signing_payload(), base64.b64decode(command.signature, validate=True))
        except (BadSignatureError, binascii.Error, ValueError):
            raise CommandRefused("bad_signature", "command signature does not verify") from None
        now = now or utcnow()
        if (command.issued_at - now).total_seconds() > self._skew:
            raise CommandRefused(
                "not_yet_valid", f"command issued in the future ({command.issued_at.isoformat()})"
            )
        if (now - command.not_after).total_seconds() > 0:
            raise CommandRefused("expired", f"command validity ended at {command.not_after.isoformat()}")
