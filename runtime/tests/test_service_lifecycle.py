"""A service process: starts against the real infrastructure, reports ready, and on SIGTERM finishes
the message it is working on before it exits (within 10 s), so nothing consumed is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from latchkey.contracts import REQUESTS, RequestSubmitted
from latchkey.runtime import make_engine
from latchkey.runtime.health import probe
from latchkey.runtime.testing.bus import produce
from latchkey.runtime.testing.ports import free_port

pytestmark = pytest.mark.infra
HERE = Path(__file__).parent


def wait_ready(port: int, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"service exited early with {process.returncode}")
        if probe("127.0.0.1", port)[0]:
            return
        time.sleep(0.2)
    raise AssertionError("service never became ready")


async def test_sigterm_finishes_in_flight_message_and_exits_within_10s(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LATCHKEY_EVENT_LOOP"} | {
        "LATCHKEY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LATCHKEY_DATABASE_URL": database_url,
        "LATCHKEY_TOPIC_PREFIX": topic_prefix,
        "LATCHKEY_HEALTH_PORT": str(port),
        "LATCHKEY_INSTANCE_ID": "slow-1",
    }
    process = subprocess.Popen(
        [sys.executable, str(HERE / "slow_service.py")], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        await asyncio.to_thread(wait_ready, port, process)
        # whoever probes the port can tell which replica answers
        for path in ("/readyz", "/livez"):
            answer = json.loads(probe("127.0.0.1", port, path)[1])
            assert (answer["service"], answer["instance"]) == ("slow-service", "slow-1")
        event = RequestSubmitted(
            request_id="in-flight", id_token="t", integration_id="pg", resource="db", permission="ro"
        )
        await produce(kafka_bootstrap, f"{topic_prefix}{REQUESTS.name}", [event], key="in-flight")
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        word, request_id, frozen, loop = line.split()
        assert (word, request_id) == ("STARTED", "in-flight")
        # LATCHKEY_EVENT_LOOP unset: a service runs on uvloop
        assert loop == "uvloop"
        # what start-up built is frozen: full collections under load do not walk it
        assert int(frozen) > 10_000
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 15)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
    assert elapsed < 10, f"shutdown took {elapsed:.1f}s"
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        done = (await conn.execute(sa.text("SELECT request_id FROM slow_service.effects"))).scalars().all()
    await engine.dispose()
    assert done == ["in-flight"], "the message consumed before SIGTERM was finished, not dropped"
