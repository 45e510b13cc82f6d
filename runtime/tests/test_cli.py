"""The shared service command line: a configuration the service cannot start with is one line on
stderr and exit status 2, naming the variable and the rule, never the value (it may be a secret)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from latchkey.contracts import REQUESTS
from latchkey.runtime.kafka import WAITING_REPORT_SECONDS, ensure_topics, kafka_connection
from latchkey.runtime.settings import ServiceSettings
from latchkey.runtime.testing.ports import free_port

SERVICES = ["latchkey.flow_engine", "latchkey.expiry", "latchkey.connector", "latchkey.identity_sync"]


@pytest.mark.parametrize("module", SERVICES)
def test_invalid_settings_are_reported_in_one_line_without_their_values(module: str) -> None:
    secret_url = "postgresql://latchkey:canary-7f3c9e@127.0.0.1:1/latchkey"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")},
        "LATCHKEY_DATABASE_URL": secret_url,
        "LATCHKEY_HEALTH_PORT": "-5",
        "LATCHKEY_SESSION_TIMEOUT_MS": "soon",
    }
    done = subprocess.run(
        [sys.executable, "-m", module, "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "configuration error" in lines[0], done.stderr
    assert "LATCHKEY_HEALTH_PORT: Input should be greater than or equal to 0" in lines[0]
    assert "LATCHKEY_SESSION_TIMEOUT_MS: Input should be a valid integer" in lines[0]
    assert "canary-7f3c9e" not in done.stderr + done.stdout and "soon" not in lines[0]


def _service(module: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")},
        "LATCHKEY_TOPIC_PREFIX": f"cli{os.getpid()}.",
        **settings,
    }
    return subprocess.run(
        [sys.executable, "-m", module, "run"], env=env, capture_output=True, text=True, timeout=120
    )


def _cannot_start(done: subprocess.CompletedProcess[str]) -> str:
    """The reason of the one "service cannot start" line, after checking exit status 2."""
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    reasons = [
        json.loads(line)["reason"]
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith("{") and '"service cannot start"' in line
    ]
    assert len(reasons) == 1, done.stdout[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    return reasons[0]


def test_a_taken_health_port_is_named_and_nothing_else_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        reason = _cannot_start(_service("latchkey.expiry", LATCHKEY_HEALTH_PORT=str(port)))
    assert f"cannot listen on 127.0.0.1:{port} (LATCHKEY_HEALTH_HOST, LATCHKEY_HEALTH_PORT)" in reason


@pytest.mark.infra
def test_a_database_out_of_reach_is_named_without_its_password(kafka_bootstrap: str) -> None:
    reason = _cannot_start(
        _service(
            "latchkey.expiry",
            LATCHKEY_KAFKA_BOOTSTRAP=kafka_bootstrap,
            LATCHKEY_HEALTH_PORT="0",
            LATCHKEY_DATABASE_URL=f"postgresql://latchkey:canary-5d1e@127.0.0.1:{free_port()}/latchkey",
        )
    )
    assert "cannot reach PostgreSQL at 127.0.0.1:" in reason and "(LATCHKEY_DATABASE_URL)" in reason
    assert "canary-5d1e" not in reason


def test_kafka_out_of_reach_is_a_line_every_few_seconds_then_the_reason() -> None:
    """aiokafka logs every failed connection attempt, twice a second for as long as a starting service
    waits; the service instead says every few seconds what it waits for and why, then why it gave up."""
    port = free_port()  # nothing listens there
    done = _service(
        "latchkey.expiry",
        LATCHKEY_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
        LATCHKEY_KAFKA_STARTUP_TIMEOUT_SECONDS="6",
        LATCHKEY_HEALTH_PORT="0",
    )
    reason = _cannot_start(done)
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in reason, reason
    assert "not connected within 6 s" in reason and "Connection refused" in reason, reason
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is a JSON log line
    waiting = [line for line in lines if line["event"] == "waiting for Kafka"]
    # at 0 s and 5 s, where aiokafka's own lines were a dozen in these 6 s (120 in the default minute)
    assert 1 <= len(waiting) <= 1 + 6 // WAITING_REPORT_SECONDS, done.stderr
    assert all(w["kafka"] == f"127.0.0.1:{port}" and "Connection refused" in w["error"] for w in waiting)
    assert [line["event"] for line in lines] == [
        "service starting",
        "health endpoint listening",
        *(["waiting for Kafka"] * len(waiting)),
        "service cannot start",
    ], done.stderr


async def test_aiokafka_logs_its_connection_errors_again_once_the_wait_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only the wait for the cluster holds aiokafka's per-attempt lines back: a client that fails
    later (a broker lost while running) is logged by aiokafka as before."""
    settings = ServiceSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_startup_timeout_seconds=1.2)
    caplog.set_level(logging.WARNING)
    with pytest.raises(KafkaConnectionError, match=r"not connected within 1\.2 s"):
        await ensure_topics(settings, [REQUESTS])
    assert not [r for r in caplog.records if r.getMessage().startswith("Unable connect to")]

    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()
    assert [r for r in caplog.records if r.getMessage().startswith("Unable connect to")]
