"""What the emulator servers the tests run as processes share: a build by their `deploy/local` script
(cached there), a start, a readiness wait that reports the server's own last words, and a stop."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latchkey.runtime.testing.infra import repo_root

DEPLOY_LOCAL = repo_root() / "deploy" / "local"


class EmulatorUnavailable(Exception):
    """It cannot be built or started here; the message says why."""


def required() -> bool:
    """CI sets LATCHKEY_REQUIRE_EMULATORS=1: there an emulator that cannot run fails the run instead of
    skipping the tests that need it."""
    return os.environ.get("LATCHKEY_REQUIRE_EMULATORS") == "1"


class EmulatorProcess:
    name = "emulator"
    script = "?"  # in deploy/local: `build` prints the artifact, `run ARGS...` execs the server
    ready_timeout_s = 90.0

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_file = folder / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Build (if need be), then `launch` with the server's arguments and readiness check."""
        raise NotImplementedError

    def build(self) -> None:
        done = subprocess.run(
            [str(DEPLOY_LOCAL / self.script), "build"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise EmulatorUnavailable(lines[-1] if lines else f"building {self.name} failed")

    def launch(self, arguments: list[str], ready: Callable[[], bool]) -> None:
        """Start the server and return once `ready()` is true (connection errors count as not yet)."""
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                [str(DEPLOY_LOCAL / self.script), "run", *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise EmulatorUnavailable(f"{self.name} exited with {code}: {self.log_tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                waited = f"{self.ready_timeout_s:.0f}s"
                raise EmulatorUnavailable(f"{self.name} not ready after {waited}: {self.log_tail()}")
            time.sleep(0.25)

    def log_tail(self) -> str:
        return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-5:])

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def localhost_certificate(folder: Path) -> tuple[Any, Any, str]:
    """A fresh RSA key and a self-signed certificate for localhost and 127.0.0.1 (RSA, because Lowkey
    Vault's TLS settings offer ECDHE-RSA suites only). The certificate is written to `folder` as PEM: the
    CA bundle a client verifies the server with. Returns the key, the certificate and that path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from latchkey.runtime.testing.certificates import self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed_certificate(
        key,
        "localhost",
        alternative_names=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    path = folder / "server-cert.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key, certificate, str(path)
