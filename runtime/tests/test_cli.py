"""The shared service command line: a configuration the service cannot start with is one line on
stderr and exit status 2, naming the variable and the rule, never the value (it may be a secret)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
