"""Who is asking: the OIDC ID token in each request event, verified against the IdP's JWKS.

Signature (RS/ES/PS algorithms only, never `none` or HMAC), issuer, audience and expiry are checked.
Keys come from the discovery document's `jwks_uri` (or a configured JWKS URL), are cached, and are
fetched again when a token names a key id we do not know (rate-limited, so forged tokens with random
key ids cannot make us hammer the IdP).

The identity taken from a valid token is its `sub`, Entra ID's `oid` and its `email` with whether the
IdP verified it (`email_verified`); which synced person that is, is decided in `domain.identity`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import OrderedDict
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import import_key

from latchkey.runtime.observability import get_logger

from .domain.identity import Identity

log = get_logger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class InvalidToken(Exception):
    """The token cannot identify anyone; `code` is for machines, the message for people (no token text)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _claimed_true(value: Any) -> bool:
    """A boolean claim that is true: JSON true, or the string "true" some IdPs send (any case)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def identity_of(claims: dict[str, Any]) -> Identity:
    """The identity in a token's validated claims."""
    email, oid = claims.get("email"), claims.get("oid")
    return Identity(
        subject=str(claims["sub"]),
        email=str(email) if email else None,
        email_verified=_claimed_true(claims.get("email_verified")),
        object_id=oid if isinstance(oid, str) and oid else None,
    )


class TokenVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        leeway_seconds: int = 30,
        refresh_interval_seconds: float = 10.0,
        http_timeout: float = 5.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._jwks_url = jwks_url
        self._leeway = leeway_seconds
        self._refresh_interval = refresh_interval_seconds
        self._timeout = http_timeout
        self._keys: dict[str, Any] = {}
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self._claims = jwt.JWTClaimsRegistry(
            leeway=leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        self.fetches = 0
        # A session's ID token arrives with every request it makes: remember verified tokens until they
        # expire (bounded), so a busy requester does not cost an RSA verification per event.
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._cache_size = 10_000

    async def _jwks_location(self, client: httpx.AsyncClient) -> str:
        if self._jwks_url is None:
            response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            self._jwks_url = str(response.json()["jwks_uri"])
        return self._jwks_url

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS (at most once per refresh interval unless forced)."""
        async with self._lock:
            if not force and time.monotonic() - self._last_fetch < self._refresh_interval:
                return
            self._last_fetch = time.monotonic()
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                url = await self._jwks_location(client)
                response = await client.get(url)
                response.raise_for_status()
                document = response.json()
            keys: dict[str, Any] = {}
            for jwk in document.get("keys", []):
                if jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                    continue
                try:
                    keys[jwk["kid"]] = import_key(jwk)
                except (JoseError, ValueError) as exc:
                    log.warning("ignoring unusable JWKS key", kid=jwk.get("kid"), error=str(exc))
            self._keys = keys
            self.fetches += 1
            log.info("JWKS loaded", keys=len(keys))

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        try:
            segment = token.split(".")[0]
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidToken("invalid_token", "the ID token is not a JWT") from None
        if not isinstance(header, dict):
            raise InvalidToken("invalid_token", "the ID token is not a JWT")
        return header

    async def verify(self, token: str) -> Identity:
        """The identity in a valid token, or InvalidToken saying what is wrong with it."""
        cached = self._verified.get(token)
        if cached is not None:
            if cached[1] > time.time():
                return cached[0]
            del self._verified[token]
        header = self._header(token)
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("invalid_token", f"ID token algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("invalid_token", "the ID token names no signing key (kid)")
        if kid not in self._keys:
            try:
                await self.refresh()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                # The IdP being unreachable is not the requester's fault: retry the batch later.
                raise ConnectionError(f"cannot fetch the IdP's signing keys: {type(exc).__name__}") from exc
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(
                "invalid_token", "the ID token is signed with a key the identity provider does not publish"
            )
        identity, expires = self.verify_with(token, key)
        self._verified[token] = (identity, expires)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return identity

    def verify_with(self, token: str, key: Any) -> tuple[Identity, float]:
        """Check `token` against `key`; the identity and when the token expires (epoch seconds)."""
        try:
            claims = jwt.decode(token, key, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError):
            raise InvalidToken("invalid_token", "the ID token's signature does not verify") from None
        try:
            self._claims.validate(claims)
        except ExpiredTokenError:
            raise InvalidToken("expired_token", "the ID token has expired; sign in again") from None
        except ClaimError as exc:
            reason = f"the ID token's {exc.claim} claim is missing or wrong"
            raise InvalidToken("invalid_token", reason) from None
        return identity_of(claims), float(claims["exp"]) + self._leeway
