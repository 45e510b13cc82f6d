"""`latchkey-access` without a running system: keys, errors a person can act on, what it prints.
The whole request → active → revoke path through the CLI is in tests/e2e/test_scenario.py."""

from __future__ import annotations

import base64
import json
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.public import PrivateKey, SealedBox
from typer.testing import CliRunner

from latchkey.contracts import GrantActivated, RequestRejected
from latchkey.flow_engine.access_cli import cli, load_key, open_credentials, public_key
from latchkey.flow_engine.story import describe
from latchkey.runtime.cli_support import CliError


def _sealed_to(key: PrivateKey, credentials: dict[str, str]) -> str:
    return base64.b64encode(SealedBox(key.public_key).encrypt(json.dumps(credentials).encode())).decode()


def test_a_key_is_created_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "requester.key"
    created = load_key(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key(load_key(path, create=False)) == public_key(created)


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "requester.key"
    load_key(path, create=True)
    path.chmod(0o644)
    with pytest.raises(CliError, match="chmod 600"):
        load_key(path, create=False)


def test_a_missing_or_foreign_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="no key at"):
        load_key(tmp_path / "absent.key", create=False)
    junk = tmp_path / "junk.key"
    junk.write_text("not base64 at all!\n")
    junk.chmod(0o600)
    with pytest.raises(CliError, match="not a Latchkey key"):
        load_key(junk, create=False)
    mine, theirs = PrivateKey.generate(), PrivateKey.generate()
    sealed = _sealed_to(theirs, {"user": "lk_x", "password": "hunter2-canary"})
    with pytest.raises(CliError, match="another key") as refused:
        open_credentials(mine, sealed)
    assert "hunter2-canary" not in str(refused.value)
    assert open_credentials(theirs, sealed)["password"] == "hunter2-canary"


def test_describe_never_shows_the_sealed_credentials() -> None:
    key = PrivateKey.generate()
    sealed = _sealed_to(key, {"password": "hunter2-canary"})
    expires = datetime.now(UTC) + timedelta(minutes=5)
    line = describe(
        GrantActivated(
            request_id="r-1",
            requester_id="u-bob",
            connector_id="c",
            integration_id="appdb",
            expires_at=expires,
            sealed_credentials=sealed,
        )
    )
    assert line.startswith("ACTIVE until ") and "credentials issued" in line
    assert sealed not in line and sealed[:16] not in line
    rejected = describe(RequestRejected(request_id="r-2", code="invalid_token", reason="token expired"))
    assert rejected == "rejected (invalid_token): token expired"


def test_without_an_id_token_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LATCHKEY_ID_TOKEN", raising=False)
    monkeypatch.setenv("LATCHKEY_KEY_FILE", str(tmp_path / "k"))
    result = CliRunner().invoke(cli, ["request", "appdb", "schema:appdb.public", "readonly"])
    assert result.exit_code == 2
    assert "no ID token: set LATCHKEY_ID_TOKEN" in result.output


def test_a_bad_duration_is_refused_before_anything_else() -> None:
    result = CliRunner().invoke(cli, ["request", "appdb", "db", "readonly", "--for", "90x"])
    assert result.exit_code == 2
    assert "'90x' is not a duration" in result.output


def test_kafka_out_of_reach_is_reported_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LATCHKEY_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
    monkeypatch.setenv("LATCHKEY_ID_TOKEN", "eyJ.fake.token")
    monkeypatch.setenv("LATCHKEY_KEY_FILE", str(tmp_path / "k"))
    result = CliRunner().invoke(cli, ["approve", "r-1"])
    assert result.exit_code == 2, result.output
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output and "eyJ.fake.token" not in result.output
