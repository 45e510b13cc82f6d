"""A fake Azure Key Vault (secrets data plane) over HTTPS, for azure-keyvault-secrets.

Stands in for Lowkey Vault, whose artifacts our registry mirror does not serve. It follows the
REST API the SDK uses: the bearer challenge (401 + WWW-Authenticate with authorization/resource),
`PUT /secrets/{name}` and `GET /secrets/{name}[/{version}]` with `api-version`, Key Vault's error
body (`{"error": {"code": "SecretNotFound", ...}}`), a self-signed certificate like Lowkey's.
"""

from __future__ import annotations

import ssl
import time
import uuid
from typing import Any

from .http_api import FakeHttpApi, Request, Response

_CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", '
    'resource="https://vault.azure.net"'
)


class FakeKeyVault(FakeHttpApi):
    def __init__(self, tls: ssl.SSLContext) -> None:
        super().__init__(tls)
        self.ca_file = ""  # the PEM of its self-signed certificate, set by the fixture that made it
        # name -> list of (version, value)
        self.secrets: dict[str, list[tuple[str, str]]] = {}
        self.route("PUT", r"/secrets/(?P<name>[0-9A-Za-z-]+)")(self._set)
        self.route("GET", r"/secrets/(?P<name>[0-9A-Za-z-]+)(?:/(?P<version>[0-9a-f]*))?")(self._get)

    def authorize(self, request: Request) -> Response | None:
        if "api-version" not in request.query:
            return Response(400, {"error": {"code": "MissingApiVersionParameter", "message": "api-version"}})
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Response(
                401,
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "AKV10000: Request is missing a Bearer token.",
                    }
                },
                {"WWW-Authenticate": _CHALLENGE},
            )
        return None

    def set_secret(self, name: str, value: str) -> None:
        with self.lock:
            self.secrets.setdefault(name, []).append((uuid.uuid4().hex, value))

    def _bundle(self, name: str, version: str, value: str) -> dict[str, Any]:
        now = int(time.time())
        return {
            "value": value,
            "id": f"{self.base_url}/secrets/{name}/{version}",
            "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable"},
            "tags": {},
        }

    def _set(self, request: Request) -> Response:
        name = request.params["name"]
        version = uuid.uuid4().hex
        value = str(request.json()["value"])
        self.secrets.setdefault(name, []).append((version, value))
        return Response(200, self._bundle(name, version, value))

    def _get(self, request: Request) -> Response:
        name, wanted = request.params["name"], request.params.get("version")
        for version, value in reversed(self.secrets.get(name, [])):
            if not wanted or wanted == version:
                return Response(200, self._bundle(name, version, value))
        message = f"A secret with (name/id) {name} was not found in this key vault."
        return Response(404, {"error": {"code": "SecretNotFound", "message": message}})
