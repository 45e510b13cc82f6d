"""One running system for the security suite: every service as a process, the connector logging in to
the target with a canary password, and flow-engine notifying a webhook whose URL is a canary too
(the hook refuses every post, so the URL meets the error paths). Neither may show up anywhere else."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from latchkey.runtime.testing import Infra
from tests.support.scenario import RunningLatchkey, latchkey_running

CANARY_USER = f"canary_admin_{secrets.token_hex(3)}"
CANARY_PASSWORD = f"CANARY-{secrets.token_hex(16)}"
CANARY_HOOK_PATH = f"/services/T0/B0/CANARY-{secrets.token_hex(12)}"


class _RefusingHook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(400)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="package")
def webhook_url() -> Iterator[str]:
    """A notification webhook on loopback whose URL is a secret; it refuses everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{CANARY_HOOK_PATH}"
    server.shutdown()


@pytest.fixture(scope="package")
async def secured(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory, webhook_url: str
) -> AsyncIterator[RunningLatchkey]:
    async with latchkey_running(
        kafka_bootstrap=infra.kafka_bootstrap,
        admin_database_url=infra.admin_database_url,
        work_dir=tmp_path_factory.mktemp("security"),
        target_login=(CANARY_USER, CANARY_PASSWORD),
        extra_env={"LATCHKEY_NOTIFY_WEBHOOK_URL": webhook_url},
    ) as running:
        yield running
