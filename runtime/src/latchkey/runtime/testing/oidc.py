"""A small, real OIDC issuer for tests and the demo: discovery document and JWKS over HTTP on
127.0.0.1 (RSA keys generated at start), `mint()` for ID tokens, including forged ones, and the OAuth
2.0 device authorization grant (RFC 8628) that `latchkey-access login` uses: the person "approving in
the browser" is played by `approve_device()` (or `device_user`, which approves every code on its
second poll).

    with TestIssuer() as idp:
        token = idp.mint("u-alice", "alice@example.com", audience="latchkey")
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass(frozen=True)
class SigningKey:
    """An RSA key with its key id; `public_jwk` is what the JWKS publishes."""

    kid: str
    private_pem: bytes
    public_jwk: dict[str, Any]

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        kid = kid or uuid.uuid4().hex[:16]
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        jwk = RSAKey.import_key(public, {"kid": kid, "use": "sig", "alg": "RS256"}).as_dict(private=False)
        return cls(kid, pem, dict(jwk))


@dataclass
class DeviceCode:
    """One device authorization in progress (RFC 8628 §3.2)."""

    client_id: str
    user_code: str
    expires_at: float
    polls: int = 0
    decision: tuple[str, str | None] | None = None  # (sub, email) once approved
    denied: bool = False
    claims: dict[str, Any] = field(default_factory=dict)


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class TestIssuer:
    """The issuer: `.issuer` (its URL), `.jwks_uri`, `mint(...)`, `rotate()`, `fetches` (JWKS hits),
    and the device flow (`device_codes`, `approve_device`, `deny_device`, `device_user`)."""

    __test__ = False  # not a pytest class

    def __init__(self, host: str = "127.0.0.1", port: int = 0, audience: str = "latchkey") -> None:
        self.audience = audience
        self.keys: list[SigningKey] = [SigningKey.generate()]
        self.fetches = 0
        self.device_codes: dict[str, DeviceCode] = {}
        self.device_user: tuple[str, str | None] | None = None
        self.device_interval = 1
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.issuer,
                        "jwks_uri": issuer.jwks_uri,
                        "device_authorization_endpoint": f"{issuer.issuer}/device/authorize",
                        "token_endpoint": f"{issuer.issuer}/token",
                        "grant_types_supported": [DEVICE_GRANT],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "subject_types_supported": ["public"],
                        "response_types_supported": ["id_token"],
                    }
                elif self.path == "/jwks":
                    issuer.fetches += 1
                    body = {"keys": [k.public_jwk for k in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                self._json(200, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path == "/device/authorize":
                    self._json(200, issuer._authorize_device(form))
                elif self.path == "/token":
                    self._json(*issuer._device_token(form))
                else:
                    self.send_error(404)

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> TestIssuer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-oidc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TestIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rotate(self) -> SigningKey:
        """Publish a new key (kept alongside the old) and sign new tokens with it."""
        key = SigningKey.generate()
        self.keys.insert(0, key)
        return key

    def mint(
        self,
        sub: str,
        email: str | None = None,
        *,
        audience: str | None = None,
        expires_in: int = 3600,
        issuer: str | None = None,
        key: SigningKey | None = None,
        email_verified: bool | str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """An RS256 ID token. `key=SigningKey.generate()` gives a token signed with a key the JWKS
        does not publish (a forgery); `issuer`/`audience`/`expires_in<0` give the other bad tokens.
        `email_verified` is left out unless given (as Entra ID leaves it out); Entra's `oid` and other
        claims go in `extra`."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": sub,
            "aud": audience or self.audience,
            "iat": now,
            "exp": now + expires_in,
        }
        if email is not None:
            claims["email"] = email
        if email_verified is not None:
            claims["email_verified"] = email_verified
        claims.update(extra or {})
        signer = key or self.keys[0]
        return jwt.encode(
            {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}, claims, RSAKey.import_key(signer.private_pem)
        )

    # -- the device authorization grant (RFC 8628) ---------------------------------------------------
    def _authorize_device(self, form: dict[str, str]) -> dict[str, Any]:
        device_code = secrets.token_urlsafe(24)
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        self.device_codes[device_code] = DeviceCode(form.get("client_id", ""), user_code, time.time() + 300)
        return {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": f"{self.issuer}/activate",
            "verification_uri_complete": f"{self.issuer}/activate?user_code={user_code}",
            "expires_in": 300,
            "interval": self.device_interval,
        }

    def _device_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != DEVICE_GRANT:
            return 400, {"error": "unsupported_grant_type"}
        code = self.device_codes.get(form.get("device_code", ""))
        if code is None or code.client_id != form.get("client_id"):
            return 400, {"error": "invalid_grant"}
        if time.time() > code.expires_at:
            return 400, {"error": "expired_token"}
        code.polls += 1
        if code.denied:
            return 400, {"error": "access_denied"}
        if code.decision is None and self.device_user is not None and code.polls >= 2:
            code.decision = self.device_user
        if code.decision is None:
            return 400, {"error": "authorization_pending"}
        sub, email = code.decision
        token = self.mint(sub, email, audience=code.client_id)
        del self.device_codes[form["device_code"]]
        return 200, {"id_token": token, "access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}

    def _code(self, user_code: str) -> DeviceCode:
        return next(c for c in self.device_codes.values() if c.user_code == user_code)

    def approve_device(self, user_code: str, sub: str, email: str | None = None) -> None:
        """The person signs in and approves `user_code` in the browser."""
        self._code(user_code).decision = (sub, email)

    def deny_device(self, user_code: str) -> None:
        self._code(user_code).denied = True

    def forge(self, sub: str, email: str | None = None, *, same_kid: bool = True) -> str:
        """A token signed by an unpublished key; with `same_kid` it even claims the real key's id."""
        rogue = SigningKey.generate(self.keys[0].kid if same_kid else None)
        return self.mint(sub, email, key=rogue)
