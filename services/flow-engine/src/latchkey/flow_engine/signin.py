"""Signing in from a terminal: the OAuth 2.0 device authorization grant (RFC 8628) against the
organisation's IdP, and the ID token it yields kept in a private file until it expires.

The person opens a URL on any device, signs in there and approves a short code; the CLI polls the
IdP's token endpoint meanwhile. flow-engine verifies the token like any other (issuer, audience,
expiry, signature), so the client id the CLI signs in with must be the audience flow-engine expects
(LATCHKEY_OIDC_AUDIENCE, `latchkey` by default).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from latchkey.runtime.cli_support import CliError

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXPIRY_MARGIN_SECONDS = 30
"""A token this close to its expiry is treated as expired (it would be by the time flow-engine checks)."""


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (in a folder of its own, 0700 when created)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def check_private(path: Path) -> None:
    """Refuse a secret file others can read, as ssh does."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CliError(f"{path} is readable by others (mode {stat.filemode(mode)}); run: chmod 600 {path}")


def claims_of(token: str) -> dict[str, Any]:
    """The token's claims, NOT verified: only to show who signed in and until when (flow-engine
    verifies every token it is given)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise CliError("that is not an ID token (a JWT)") from None
    if not isinstance(claims, dict):
        raise CliError("that is not an ID token (a JWT)")
    return claims


def signed_in_token(path: Path) -> str | None:
    """The token `login` kept, if any; CliError when it has expired."""
    path = path.expanduser()
    if not path.exists():
        return None
    check_private(path)
    token = path.read_text().strip()
    expires = claims_of(token).get("exp")
    if isinstance(expires, int | float) and expires < time.time() + EXPIRY_MARGIN_SECONDS:
        raise CliError("your sign-in has expired: run latchkey-access login")
    return token


async def device_login(
    issuer: str,
    client_id: str,
    prompt: Callable[[str, str, str | None], None],
    *,
    scope: str = "openid email",
    timeout: float | None = None,
) -> str:
    """Run the device flow; `prompt(verification_uri, user_code, verification_uri_complete)` tells the
    person where to go. Returns the ID token."""
    async with httpx.AsyncClient(timeout=15.0) as client:
        try:
            discovery = await client.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
            discovery.raise_for_status()
            document = discovery.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CliError(
                f"cannot read the IdP's discovery document at {issuer}: {type(exc).__name__}"
            ) from None
        device_endpoint = document.get("device_authorization_endpoint")
        token_endpoint = document.get("token_endpoint")
        if not device_endpoint or not token_endpoint:
            raise CliError(
                "your IdP does not offer the device flow: set LATCHKEY_ID_TOKEN or pass --id-token-file"
            )
        try:
            response = await client.post(device_endpoint, data={"client_id": client_id, "scope": scope})
            grant = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CliError(f"the IdP's device authorization failed: {type(exc).__name__}") from None
        if response.status_code != 200 or "device_code" not in grant:
            raise CliError(f"the IdP refused to start a sign-in: {grant.get('error', response.status_code)}")
        prompt(grant["verification_uri"], grant["user_code"], grant.get("verification_uri_complete"))
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + min(float(grant.get("expires_in", 600)), timeout or float("inf"))
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            try:
                response = await client.post(
                    token_endpoint,
                    data={
                        "grant_type": DEVICE_GRANT,
                        "device_code": grant["device_code"],
                        "client_id": client_id,
                    },
                )
                answer = response.json()
            except (httpx.HTTPError, ValueError):
                continue  # a hiccup while the person is still signing in: poll again
            if response.status_code == 200:
                if "id_token" not in answer:
                    raise CliError("the IdP answered without an ID token: is the 'openid' scope allowed?")
                return str(answer["id_token"])
            error = answer.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += 5
                continue
            if error == "access_denied":
                raise CliError("the sign-in was denied")
            if error == "expired_token":
                break
            raise CliError(f"the IdP refused the sign-in: {error or response.status_code}")
        raise CliError("the sign-in code expired before it was approved; run latchkey-access login again")
