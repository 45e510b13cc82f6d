"""The shared service command line: a configuration the service cannot start with is one line on
stderr and exit status 2, naming the variable and the rule, never the value (it may be a secret)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

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
