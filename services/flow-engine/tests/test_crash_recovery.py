"""flow-engine killed with SIGKILL in the middle of a stream of requests, then restarted: every
request is decided exactly once (distinct lifecycle events and commands), none is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from latchkey.contracts import LIFECYCLE, REQUESTS, RequestSubmitted, connector_commands
from latchkey.flow_engine.app import SCHEMA
from latchkey.flow_engine.store import FlowEngineStore
from latchkey.runtime.db import make_engine
from latchkey.runtime.testing.oidc import TestIssuer
from latchkey.runtime.testing.ports import free_port

from .conftest import CONNECTOR, TEST_FLOWS, Bus, seed

pytestmark = pytest.mark.infra


def start_engine(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "latchkey.flow_engine"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "flow-engine exited during start-up"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("flow-engine did not become ready")


async def test_kill_9_mid_stream_loses_and_duplicates_nothing(
    kafka_bootstrap: str, database_url: str, topic_prefix: str, idp: TestIssuer, signing_key: str
) -> None:
    port = free_port()
    env = {
        "LATCHKEY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LATCHKEY_DATABASE_URL": database_url,
        "LATCHKEY_TOPIC_PREFIX": topic_prefix,
        "LATCHKEY_HEALTH_PORT": str(port),
        "LATCHKEY_SIGNING_KEY": signing_key,
        "LATCHKEY_OIDC_ISSUER": idp.issuer,
        "LATCHKEY_LOG_LEVEL": "WARNING",
        "LATCHKEY_CONSUMER_MAX_RECORDS": "20",
        # the killed process's group members must time out before the restarted one gets partitions
        "LATCHKEY_SESSION_TIMEOUT_MS": "6000",
        "LATCHKEY_HEARTBEAT_INTERVAL_MS": "1000",
    }
    process = start_engine(env)
    bus = Bus(kafka_bootstrap, topic_prefix)
    database = make_engine(database_url)
    try:
        await wait_ready(port, process)
        await bus.start([LIFECYCLE, connector_commands(CONNECTOR)])
        await seed(bus, (database, FlowEngineStore(SCHEMA)), [TEST_FLOWS])
        token = idp.mint("u-alice", "alice@example.com")
        ids = [f"crash-{i:04d}" for i in range(400)]
        events = [
            RequestSubmitted(
                request_id=i,
                id_token=token,
                integration_id="pg-prod",
                resource="orders-db",
                permission="readonly",
            )
            for i in ids
        ]

        async def stream() -> None:
            # paced (20 every 100 ms, 2 s in all), so that the kill lands mid-stream however fast
            # the engine decides: a burst of 400 could all be decided before the kill
            for start in range(0, len(events), 20):
                for event in events[start : start + 20]:
                    await bus.producer.send(
                        bus.prefix + REQUESTS.name,
                        event.model_dump_json().encode(),
                        key=event.request_id.encode(),
                    )
                await bus.producer.flush()
                await asyncio.sleep(0.1)

        sending = asyncio.create_task(stream())

        def decided() -> int:
            return len(
                {
                    r["request_id"]
                    for r in bus.records.get(LIFECYCLE.name, [])
                    if r["type"] == "access.grant.requested"
                }
            )

        await bus.wait_for(lambda: decided() >= 40, timeout=30, what="some decisions before the kill")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert decided() < len(ids), "the stream finished before the kill; make it longer"
        await sending
        process = start_engine(env)
        await wait_ready(port, process)
        await bus.wait_for(
            lambda: decided() == len(ids), timeout=60, what="every request decided after restart"
        )
        await asyncio.sleep(1.0)  # let any redelivered duplicate arrive
        lifecycle = [r for r in bus.records[LIFECYCLE.name] if r["request_id"].startswith("crash-")]
        distinct = {r["event_id"]: r for r in lifecycle}.values()
        per_request = Counter((r["request_id"], r["type"]) for r in distinct)
        for request_id in ids:
            for kind in ("access.request.created", "access.request.approved", "access.grant.requested"):
                assert per_request[(request_id, kind)] == 1, (
                    request_id,
                    kind,
                    per_request[(request_id, kind)],
                )
        commands = {r["command_id"] for r in bus.records[connector_commands(CONNECTOR).name]}
        assert len(commands) == len(ids)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        await bus.stop()
        await database.dispose()
