"""Lowkey Vault, the Azure Key Vault emulator, as a server process on 127.0.0.1 for the tests.

Built from third_party/lowkey-vault by `deploy/local/lowkey-vault` (our package mirror does not serve
its jar or image). It serves Key Vault's REST API over HTTPS with a certificate made here (so TLS is
verified against a CA bundle the test holds), enforces the bearer challenge (401 +
`WWW-Authenticate` naming its own address as the resource), and answers Azure's managed-identity token
protocol on a second, HTTP port. Secrets are seeded through azure-keyvault-secrets, the official SDK.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "deploy" / "local" / "lowkey-vault"
READY_TIMEOUT_S = 90.0


class LowkeyVaultUnavailable(Exception):
    """It cannot be built or started here; the message says why."""


def build() -> str:
    """The server jar's path, built on first use (a JDK 25 and Maven are needed; see the script)."""
    done = subprocess.run([str(SCRIPT), "build"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "the build failed"
        raise LowkeyVaultUnavailable(reason)
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_keystore(folder: Path, password: str) -> str:
    """A PKCS#12 keystore with a fresh RSA key and a self-signed certificate for localhost and
    127.0.0.1 (Lowkey Vault's TLS settings offer TLS 1.2 with ECDHE-RSA only); returns the
    certificate's PEM path, the CA bundle a client trusts it with."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    from latchkey.runtime.testing.certificates import self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed_certificate(
        key,
        "localhost",
        alternative_names=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    keystore = pkcs12.serialize_key_and_certificates(
        b"lowkey", key, certificate, None, serialization.BestAvailableEncryption(password.encode())
    )
    (folder / "keystore.p12").write_bytes(keystore)
    ca_file = folder / "lowkey-vault-cert.pem"
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(ca_file)


class LowkeyVault:
    # The newest Key Vault REST API version Lowkey Vault 7.3.74 serves (azure-keyvault-secrets 4.12
    # asks for 2026-04-01 by default, which it answers with 400).
    API_VERSION = "2025-07-01"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.token_port = _free_port()
        self.ca_file = ""
        self.log_file = folder / "lowkey-vault.log"
        self._process: subprocess.Popen[bytes] | None = None
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
        build()
        password = secrets.token_urlsafe(12)
        self.ca_file = _write_keystore(self.folder, password)
        arguments = [
            f"--server.port={self.port}",
            f"--app.token.port={self.token_port}",
            "--server.address=127.0.0.1",
            f"--server.ssl.key-store=file:{self.folder / 'keystore.p12'}",
            f"--server.ssl.key-store-password={password}",
            "--server.ssl.key-alias=lowkey",
            "--spring.main.banner-mode=off",
        ]
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                [str(SCRIPT), "run", *arguments], stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LowkeyVaultUnavailable(f"exited with {self._process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.vault_url}/ping", context=context, timeout=2) as answer:
                    if answer.read() == b"pong":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LowkeyVaultUnavailable(f"not ready after {READY_TIMEOUT_S:.0f}s: {self._log_tail()}")
            time.sleep(0.25)

    def _log_tail(self) -> str:
        return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-5:])

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
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def required() -> bool:
    """CI sets LATCHKEY_REQUIRE_LOWKEY_VAULT=1: there a missing emulator fails the run, not skips."""
    return os.environ.get("LATCHKEY_REQUIRE_LOWKEY_VAULT") == "1"
