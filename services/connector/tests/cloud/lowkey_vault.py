"""Lowkey Vault, the Azure Key Vault emulator, as a server process on 127.0.0.1 for the tests.

Built from third_party/lowkey-vault by `deploy/local/lowkey-vault` (our package mirror does not serve
its jar or image). It serves Key Vault's REST API over HTTPS with a certificate made here (so TLS is
verified against a CA bundle the test holds), enforces the bearer challenge (401 +
`WWW-Authenticate` naming its own address as the resource), and answers Azure's managed-identity token
protocol on a second, HTTP port. Secrets are seeded through azure-keyvault-secrets, the official SDK.
"""

from __future__ import annotations

import secrets
import ssl
import urllib.request
from pathlib import Path
from typing import Any

from latchkey.runtime.testing.ports import free_port

from .emulators import EmulatorProcess, localhost_certificate


def _write_keystore(folder: Path, password: str) -> str:
    """A PKCS#12 keystore (alias `lowkey`) with a certificate for localhost; returns the certificate's
    PEM path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key, certificate, ca_file = localhost_certificate(folder)
    keystore = pkcs12.serialize_key_and_certificates(
        b"lowkey", key, certificate, None, serialization.BestAvailableEncryption(password.encode())
    )
    (folder / "keystore.p12").write_bytes(keystore)
    return ca_file


class LowkeyVault(EmulatorProcess):
    name = "lowkey-vault"
    script = "lowkey-vault"
    # The newest Key Vault REST API version Lowkey Vault 7.3.74 serves (azure-keyvault-secrets 4.12
    # asks for 2026-04-01 by default, which it answers with 400).
    API_VERSION = "2025-07-01"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.port = free_port()
        self.token_port = free_port()
        self.ca_file = ""
        self._client: Any = None

    @property
    def vault_url(self) -> str:
        """The vault Lowkey Vault registers for its own address (`azure-kv://localhost/NAME`)."""
        return f"https://localhost:{self.port}"

    @property
    def token_endpoint(self) -> str:
        """Its managed-identity token endpoint (App Service's IDENTITY_ENDPOINT protocol)."""
        return f"http://127.0.0.1:{self.token_port}/metadata/identity/oauth2/token"

    def start(self) -> None:
        self.build()
        password = secrets.token_urlsafe(12)
        self.ca_file = _write_keystore(self.folder, password)
        context = ssl.create_default_context(cafile=self.ca_file)

        def answers_ping() -> bool:
            with urllib.request.urlopen(f"{self.vault_url}/ping", context=context, timeout=2) as answer:
                return bool(answer.read() == b"pong")

        arguments = [
            f"--server.port={self.port}",
            f"--app.token.port={self.token_port}",
            "--server.address=127.0.0.1",
            f"--server.ssl.key-store=file:{self.folder / 'keystore.p12'}",
            f"--server.ssl.key-store-password={password}",
            "--server.ssl.key-alias=lowkey",
            "--spring.main.banner-mode=off",
        ]
        self.launch(arguments, answers_ping)

    def set_secret(self, name: str, value: str) -> None:
        """Store a new version of a secret, through azure-keyvault-secrets as any client would."""
        if self._client is None:
            from azure.keyvault.secrets import SecretClient

            from latchkey.connector.secrets.azure import StaticTokenCredential

            self._client = SecretClient(
                self.vault_url,
                StaticTokenCredential(),
                connection_verify=self.ca_file,
                verify_challenge_resource=False,  # its challenge names localhost:PORT (see conftest)
                api_version=self.API_VERSION,
            )
        self._client.set_secret(name, value)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().stop()
