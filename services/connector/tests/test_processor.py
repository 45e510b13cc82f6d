"""The command core without Kafka: what is refused (and that nothing ran), what is applied, sealing."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from cryptography.exceptions import InvalidSignature
from nacl.public import PrivateKey, SealedBox

from latchkey.connector.config import ConnectorConfig
from latchkey.connector.domain.replay import Executed, ExecutedCommands
from latchkey.connector.integrations import REGISTRY, load_builtin_integrations
from latchkey.connector.integrations.base import (
    BLOCKING,
    AccessSpec,
    GrantOutcome,
    IntegrationError,
    RevokeOutcome,
)
from latchkey.connector.integrations.noop import NoopIntegration
from latchkey.connector.processor import CommandProcessor
from latchkey.connector.secrets import SecretResolver, SecretUnavailable
from latchkey.contracts import CommandApplied, CommandFailed, utcnow
from latchkey.runtime.signing import CommandSigner, CommandVerifier, generate_private_key, load_private_key

from .conftest import CommandFactory

SOURCE = "connector.test-conn.commands.v1:0:1"


def build(config: ConnectorConfig, window: float = 3600) -> tuple[CommandProcessor, NoopIntegration]:
    load_builtin_integrations({"noop"})
    noop = REGISTRY["noop"](config.integrations["bench"], SecretResolver.default(), config.templates)
    assert isinstance(noop, NoopIntegration)
    processor = CommandProcessor(
        config,
        {"bench": noop},
        CommandVerifier(config.public_keys),
        ExecutedCommands(window),
        replica="r1",
        replay_window_seconds=window,
    )
    return processor, noop


async def refused(processor: CommandProcessor, command: Any, source: str = SOURCE) -> CommandFailed:
    outcome = await processor.process(command, source)
    assert isinstance(outcome.result, CommandFailed), outcome
    return outcome.result


async def test_signed_grant_is_applied(noop_config: ConnectorConfig, make_command: CommandFactory) -> None:
    processor, noop = build(noop_config)
    command = make_command("grant")
    outcome = await processor.process(command, SOURCE)
    assert isinstance(outcome.result, CommandApplied)
    assert outcome.result.command_id == command.command_id and outcome.result.replica == "r1"
    assert [c.operation for c in noop.calls] == ["grant"]
    assert noop.active == {(command.grant_id, "access", "noop-resource")}


def test_signatures_are_standard_ed25519(control_plane_key: str, make_command: CommandFactory) -> None:
    """flow-engine signs with libsodium; any Ed25519 implementation (here OpenSSL's) must accept it,
    and reject it once a signed field changes."""
    public = load_private_key(control_plane_key).public_key()
    command = make_command("grant")
    signature = base64.b64decode(command.signature)
    public.verify(signature, command.signing_payload())  # raises InvalidSignature otherwise
    with pytest.raises(InvalidSignature):
        public.verify(signature, command.model_copy(update={"resource": "elsewhere"}).signing_payload())


async def test_forged_command_is_refused_and_nothing_runs(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    processor, noop = build(noop_config)
    impostor = CommandSigner(load_private_key(generate_private_key()), key_id="cp-1")
    result = await refused(processor, impostor.sign(make_command("grant", sign=False)))
    assert (result.code, result.retryable) == ("bad_signature", False)
    tampered = make_command("grant").model_copy(update={"resource": "something-else"})
    assert (await refused(processor, tampered)).code == "bad_signature"
    unknown_key = make_command("grant").model_copy(update={"key_id": "cp-9"})
    assert (await refused(processor, unknown_key)).code == "unknown_key"
    assert noop.calls == []


async def test_expired_command_is_refused(noop_config: ConnectorConfig, make_command: CommandFactory) -> None:
    processor, noop = build(noop_config)
    past = utcnow() - timedelta(hours=1)
    result = await refused(
        processor, make_command("grant", issued_at=past, not_after=past + timedelta(minutes=5))
    )
    assert result.code == "expired" and "validity ended" in result.reason
    assert noop.calls == []


async def test_command_valid_longer_than_replay_window_is_refused(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    processor, noop = build(noop_config, window=60)
    result = await refused(processor, make_command("grant", not_after=utcnow() + timedelta(hours=2)))
    assert result.code == "window_too_long"
    assert noop.calls == []


async def test_replayed_command_is_refused_but_a_redelivery_is_silent(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    processor, noop = build(noop_config)
    command = make_command("grant")
    first = await processor.process(command, SOURCE)
    assert isinstance(first.result, CommandApplied)
    processor.executed.remember(Executed(command.command_id, SOURCE, "applied"))
    redelivered = await processor.process(command, SOURCE)
    assert redelivered.result is None and redelivered.duplicate_of is not None
    replay = await refused(processor, command, source="connector.test-conn.commands.v1:2:77")
    assert replay.code == "replayed" and command.command_id in replay.reason
    assert len(noop.calls) == 1


@pytest.mark.parametrize(
    ("fields", "code", "says"),
    [
        ({"integration_id": "prod-db"}, "unknown_integration", "'prod-db' is not configured"),
        ({"template": "superuser"}, "unknown_template", "'superuser' is not allowed"),
        ({"parameters": {"level": "admin"}}, "invalid_parameters", "one of"),
        ({"parameters": {"level": "read'; DROP TABLE x; --"}}, "invalid_parameters", "level"),
        ({"parameters": {"extra": "1"}}, "invalid_parameters", "takes no parameter"),
        ({"connector_id": "other-conn"}, "wrong_connector", "other-conn"),
        ({"requester_public_key": "bm90IGEga2V5"}, "invalid_public_key", "32-byte"),
    ],
)
async def test_commands_outside_the_local_allowlist_are_refused(
    noop_config: ConnectorConfig, make_command: CommandFactory, fields: dict[str, Any], code: str, says: str
) -> None:
    processor, noop = build(noop_config)
    result = await refused(processor, make_command("grant", **fields))
    assert result.code == code and says in result.reason
    assert noop.calls == []


async def test_issued_credentials_are_sealed_to_the_requester(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    class Issuing(NoopIntegration):
        type: ClassVar[str] = "issuing-test"

        async def grant(self, access: AccessSpec) -> GrantOutcome:
            await super().grant(access)
            return GrantOutcome(credentials={"user": "lk_u1", "password": "s3cr3t-canary"})

    processor, noop = build(noop_config)
    processor.integrations["bench"] = Issuing(noop.config, noop.secrets, noop.templates)
    requester = PrivateKey.generate()
    public = base64.b64encode(bytes(requester.public_key)).decode()
    outcome = await processor.process(make_command("grant", requester_public_key=public), SOURCE)
    assert isinstance(outcome.result, CommandApplied) and outcome.result.sealed_credentials
    assert "s3cr3t-canary" not in outcome.result.model_dump_json()
    opened = SealedBox(requester).decrypt(base64.b64decode(outcome.result.sealed_credentials))
    assert json.loads(opened) == {"user": "lk_u1", "password": "s3cr3t-canary"}

    # Without a key to seal to, the credentials are never published and the grant is undone.
    bare = processor.integrations["bench"]
    outcome = await processor.process(make_command("grant"), "t:0:2")
    assert isinstance(outcome.result, CommandFailed) and outcome.result.code == "missing_public_key"
    assert "s3cr3t-canary" not in outcome.result.model_dump_json()
    assert isinstance(bare, NoopIntegration) and [c.operation for c in bare.calls][-2:] == ["grant", "revoke"]


async def test_noop_keeps_only_its_latest_calls(
    noop_config: ConnectorConfig, make_command: CommandFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running noop connector (a trial install, a benchmark) must not grow without bound."""
    monkeypatch.setattr(NoopIntegration, "remembered_calls", 3)
    processor, noop = build(noop_config)
    commands = [make_command("grant") for _ in range(10)]
    for command in commands:
        assert isinstance((await processor.process(command, SOURCE)).result, CommandApplied)
    kept = [c.grant_id for c in noop.calls]
    assert 3 <= len(kept) <= 6
    assert kept == [c.grant_id for c in commands][-len(kept) :]  # the latest, in order
    assert len(noop.active) == 10  # what is granted is not forgotten


async def test_revoke_with_rotation_reports_rotated(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    processor, noop = build(noop_config)
    outcome = await processor.process(make_command("revoke", rotate_credentials=True), SOURCE)
    assert isinstance(outcome.result, CommandApplied) and outcome.result.credential_rotated
    assert [c.operation for c in noop.calls] == ["revoke", "rotate"]


async def test_rotate_and_inventory_commands(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    processor, noop = build(noop_config)
    outcome = await processor.process(make_command("rotate"), SOURCE)
    assert isinstance(outcome.result, CommandApplied) and outcome.result.credential_rotated
    assert outcome.result.command_type == "connector.rotate"
    # Without an inventory runner (no Kafka here) a sync command is refused, not silently applied.
    sync = await processor.process(make_command("sync"), "t:0:9")
    assert isinstance(sync.result, CommandFailed) and sync.result.code == "unsupported"
    assert [c.operation for c in noop.calls] == ["rotate"]


def _failing(noop: NoopIntegration, error: BaseException) -> NoopIntegration:
    class Failing(NoopIntegration):
        type: ClassVar[str] = "failing-test"

        async def grant(self, access: AccessSpec) -> GrantOutcome:
            await super().grant(access)
            raise error

    return Failing(noop.config, noop.secrets, noop.templates)


@pytest.mark.parametrize(
    ("error", "code", "may_have_applied"),
    [
        (IntegrationError("second operation failed: NoSuchEntity"), "target_error", True),
        (IntegrationError("role ro does not exist", may_have_applied=False), "target_error", False),
        (SecretUnavailable("aws-sm://prod/db", "AccessDenied"), "secret_unavailable", False),
        (KeyError("x"), "internal_error", True),
    ],
)
async def test_a_failed_command_says_whether_it_may_have_changed_the_target(
    noop_config: ConnectorConfig,
    make_command: CommandFactory,
    error: BaseException,
    code: str,
    may_have_applied: bool,
) -> None:
    """flow-engine revokes a failed grant that may have changed the target; a refusal changed nothing."""
    processor, noop = build(noop_config)
    processor.integrations["bench"] = _failing(noop, error)
    result = await refused(processor, make_command("grant"))
    assert (result.code, result.may_have_applied) == (code, may_have_applied)
    forged = make_command("grant").model_copy(update={"resource": "elsewhere"})
    assert (await refused(processor, forged)).may_have_applied is False


async def test_a_call_still_running_after_its_command_timed_out_holds_back_the_grants_next_command(
    noop_config: ConnectorConfig, make_command: CommandFactory
) -> None:
    """The connector cannot stop an SDK call in a thread when its command times out. The call may then
    still grant after the revoke meant to undo it: so the grant's next command waits for it, and is
    refused as busy (retryable, nothing started) while it still runs."""
    landed = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def slow_attach() -> None:  # a boto3 call that answers late
        release.wait(10)
        order.append("grant landed")
        landed.set()

    class Slow(NoopIntegration):
        type: ClassVar[str] = "slow-test"

        async def grant(self, access: AccessSpec) -> GrantOutcome:
            await BLOCKING.run(access.grant_id, slow_attach)
            return GrantOutcome()

        async def revoke(self, access: AccessSpec) -> RevokeOutcome:
            order.append("revoke")
            return await super().revoke(access)

    processor, noop = build(noop_config)
    processor.timeout = 0.3
    processor.integrations["bench"] = Slow(noop.config, noop.secrets, noop.templates)
    grant = make_command("grant")
    timed_out = await refused(processor, grant)
    assert (timed_out.code, timed_out.may_have_applied) == ("timeout", True)
    revoke = make_command("revoke", grant_id=grant.grant_id)
    busy = await refused(processor, revoke)
    assert (busy.code, busy.retryable, busy.may_have_applied) == ("busy", True, False)
    assert order == [] and not landed.is_set()
    assert await BLOCKING.drain(0.05) == 1  # what a replica shutting down waits for

    threading.Timer(0.1, release.set).start()
    retry = make_command("revoke", grant_id=grant.grant_id, attempt=2)
    outcome = await processor.process(retry, "t:0:3")
    assert isinstance(outcome.result, CommandApplied)
    assert order == ["grant landed", "revoke"]
    assert BLOCKING.running(grant.grant_id) == 0 and await BLOCKING.drain(0.05) == 0
