"""Credentials issued to a person are sealed to that person's X25519 key before they touch the bus."""

from __future__ import annotations

import base64
import json

from nacl.public import PublicKey, SealedBox

from .admission import check_public_key


def seal_credentials(credentials: dict[str, str], requester_public_key: str) -> str:
    """Base64 of a libsodium sealed box holding the credentials as JSON; only the requester can open it."""
    box = SealedBox(PublicKey(check_public_key(requester_public_key)))
    plaintext = json.dumps(credentials, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(box.encrypt(plaintext)).decode()
