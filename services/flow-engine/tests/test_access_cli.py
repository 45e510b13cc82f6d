"""`latchkey-access` without a running system: keys, errors a person can act on, what it prints.
The whole request → active → revoke path through the CLI is in tests/e2e/test_scenario.py."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.public import PrivateKey, SealedBox
from typer.testing import CliRunner

from latchkey.contracts import Event, GrantActivated, GrantRequested, GrantRevoking, RequestRejected
from latchkey.flow_engine.access_cli import (
    EXIT_ENDED,
    AccessSettings,
    _follow,
    cli,
    id_token,
    load_key,
    open_credentials,
    public_key,
)
from latchkey.flow_engine.signin import write_private
from latchkey.flow_engine.story import describe
from latchkey.flow_engine.tokens import TokenVerifier
from latchkey.runtime.cli_support import CliError
from latchkey.runtime.testing.oidc import TestIssuer


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
    monkeypatch.setenv("LATCHKEY_TOKEN_FILE", str(tmp_path / "never-signed-in"))
    result = CliRunner().invoke(cli, ["request", "appdb", "schema:appdb.public", "readonly"])
    assert result.exit_code == 2
    assert "not signed in: run latchkey-access login (or set LATCHKEY_ID_TOKEN)" in result.output
    assert not (tmp_path / "k").exists(), "nothing was prepared either"


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


@pytest.fixture
def idp() -> Iterator[TestIssuer]:
    with TestIssuer() as issuer:
        yield issuer


def _login_env(tmp_path: Path, idp: TestIssuer) -> dict[str, str]:
    return {
        "LATCHKEY_OIDC_ISSUER": idp.issuer,
        "LATCHKEY_TOKEN_FILE": str(tmp_path / "conf" / "id-token"),
        "LATCHKEY_ID_TOKEN": "",
    }


async def test_login_runs_the_device_flow_and_keeps_a_token_flow_engine_accepts(
    tmp_path: Path, idp: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp.device_user = ("u-bob", "bob@example.com")  # approves in the "browser" on the second poll
    env = _login_env(tmp_path, idp)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["login", "--timeout", "30"], env=env)
    assert result.exit_code == 0, result.output
    assert f"open {idp.issuer}/activate?user_code=" in result.output and "confirm the code" in result.output
    assert "signed in as bob@example.com until" in result.output
    kept = tmp_path / "conf" / "id-token"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    token = kept.read_text().strip()
    assert token not in result.output, "the token itself is never printed"
    # what flow-engine does with it: a verified identity
    identity = await TokenVerifier(idp.issuer, "latchkey").verify(token)
    assert (identity.subject, identity.email) == ("u-bob", "bob@example.com")
    # and the other commands use it when no token is given
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LATCHKEY_ID_TOKEN")
    assert id_token(AccessSettings(), None) == token

    out = CliRunner().invoke(cli, ["logout"], env=env)
    assert out.exit_code == 0 and not kept.exists()
    with pytest.raises(CliError, match="not signed in: run latchkey-access login"):
        id_token(AccessSettings(), None)


async def test_a_denied_sign_in_keeps_nothing_and_an_expired_one_asks_to_sign_in_again(
    tmp_path: Path, idp: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny_when_asked() -> None:
        for _ in range(200):
            if idp.device_codes:
                idp.deny_device(next(iter(idp.device_codes.values())).user_code)
                return
            time.sleep(0.05)

    threading.Thread(target=deny_when_asked, daemon=True).start()
    env = _login_env(tmp_path, idp)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["login", "--timeout", "30"], env=env)
    assert result.exit_code == 2 and "the sign-in was denied" in result.output
    kept = tmp_path / "conf" / "id-token"
    assert not kept.exists()

    write_private(kept, idp.mint("u-bob", "bob@example.com", expires_in=10) + "\n")  # inside the margin
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LATCHKEY_ID_TOKEN")
    with pytest.raises(CliError, match="your sign-in has expired: run latchkey-access login"):
        id_token(AccessSettings(), None)


def test_a_bad_setting_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATCHKEY_HEALTH_PORT", "abc")
    result = CliRunner().invoke(cli, ["mine"])
    assert result.exit_code == 2 and "error: bad setting LATCHKEY_HEALTH_PORT" in result.output
    assert "Traceback" not in result.output


async def test_waiting_for_access_ends_when_a_failed_grant_is_being_revoked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A grant that failed after it may have changed the target is revoked before its story ends in
    access.grant.failed; `request --wait` stops at the revoke, since no access will come."""
    now = datetime.now(UTC)
    common = {"request_id": "r-1", "producer": "flow-engine"}
    story_events = [
        GrantRequested(connector_id="c", command_id="c-1", attempt=1, **common),
        GrantRevoking(
            connector_id="c",
            command_id="c-2",
            attempt=1,
            reason="failed",
            confirm_by=now + timedelta(minutes=2),
            detail="the connector could not grant (timeout): the integration did not finish within 60s",
            **common,
        ),
    ]

    class Story:
        request_id = "r-1"

        async def events(self, start: int | None = None, follow: bool = False) -> AsyncIterator[Event]:
            for event in story_events:
                yield event
            await asyncio.sleep(3600)  # the story goes on (the revoke's confirmation) but not here

    code = await _follow(Story(), None, 5, None, until_active=True)  # type: ignore[arg-type]
    assert code == EXIT_ENDED
    printed = capsys.readouterr().err
    assert "grant failed: the connector could not grant (timeout)" in printed
    assert "revoking what it may have applied" in printed
