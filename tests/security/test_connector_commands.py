"""Commands that must not be executed, sent over Kafka to a running connector that manages a real
PostgreSQL database: each is refused with a reason on connector.results.v1 and grants nothing.
Injection strings in every field reach the target, if at all, only as bound identifiers/literals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from latchkey.connector.integrations.postgresql import login_role_name
from latchkey.contracts import (
    RESULTS,
    CommandApplied,
    CommandFailed,
    GrantCommand,
    Principal,
    RevokeCommand,
    connector_commands,
    utcnow,
    uuid7,
)
from latchkey.runtime.signing import CommandSigner, load_private_key
from tests.support.bus import TopicReader
from tests.support.scenario import RunningLatchkey
from tests.support.system import Requester

from .conftest import CANARY_USER

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]


def _grant(running: RunningLatchkey, **overrides: Any) -> GrantCommand:
    now = utcnow()
    grant_id = str(uuid7())
    fields: dict[str, Any] = {
        "command_id": str(uuid7()),
        "grant_id": grant_id,
        "connector_id": running.system.connector_id,
        "integration_id": running.system.integration_id,
        "issued_at": now,
        "not_after": now + timedelta(minutes=2),
        "template": "readonly",
        "resource": running.resource,
        "principal": Principal(user_id="u-mallory", email="mallory@example.com"),
        "expires_at": now + timedelta(minutes=10),
        "requester_public_key": Requester("u-mallory", "mallory@example.com").public_key,
        "producer": "attacker",
        "correlation_id": grant_id,
    }
    fields.update(overrides)
    return GrantCommand(**fields)


def _sign(running: RunningLatchkey, command: Any) -> Any:
    return CommandSigner(load_private_key(running.system.signing_key)).sign(command)


async def _result_of(running: RunningLatchkey, command_id: str, timeout: float = 30) -> Any:
    async with TopicReader(running.bootstrap, running.topic(RESULTS.name), RESULTS) as results:

        def mine(records: list[Any]) -> bool:
            return any(getattr(r.event, "command_id", None) == command_id for r in records)

        await results.wait_for(mine, timeout, f"result of command {command_id}")
        return next(r.event for r in results.records if getattr(r.event, "command_id", None) == command_id)


async def _send(running: RunningLatchkey, command: Any) -> None:
    await running.publisher.publish(connector_commands(running.system.connector_id), command)


def _target_intact(running: RunningLatchkey) -> None:
    assert running.system.target is not None
    with running.system.target.connect() as admin:
        assert admin.execute("SELECT count(*) FROM public.orders").fetchone() == (3,)
        assert admin.execute("SELECT count(*) FROM public.customers").fetchone() == (3,)
        superusers = {r[0] for r in admin.execute("SELECT rolname FROM pg_roles WHERE rolsuper").fetchall()}
    assert CANARY_USER in superusers
    assert not {s for s in superusers if s.startswith("lk_")}, (
        f"a Latchkey login became superuser: {superusers}"
    )


def _role_exists(running: RunningLatchkey, role: str) -> bool:
    assert running.system.target is not None
    with running.system.target.connect() as admin:
        return admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _granted(running: RunningLatchkey) -> set[str]:
    assert running.system.target is not None
    return set(running.system.target.granted_login_roles())


async def _assert_refused(running: RunningLatchkey, command: Any, codes: set[str]) -> CommandFailed:
    granted_before = _granted(running)
    await _send(running, command)
    result = await _result_of(running, command.command_id)
    assert isinstance(result, CommandFailed), f"executed: {result}"
    assert result.code in codes, f"refused for the wrong reason: {result.code}: {result.reason}"
    assert result.reason and not result.retryable
    assert not _role_exists(running, login_role_name(command.principal.user_id, command.grant_id))
    assert _granted(running) == granted_before, "a refused command granted access"
    _target_intact(running)
    return result


async def test_command_signed_by_another_key_is_refused(secured: RunningLatchkey) -> None:
    rogue = CommandSigner(Ed25519PrivateKey.generate())
    await _assert_refused(secured, rogue.sign(_grant(secured)), {"bad_signature"})


async def test_command_signed_under_an_unknown_key_id_is_refused(secured: RunningLatchkey) -> None:
    rogue = CommandSigner(Ed25519PrivateKey.generate(), key_id="rotated-2031")
    await _assert_refused(secured, rogue.sign(_grant(secured)), {"unknown_key", "bad_signature"})


@pytest.mark.parametrize(
    "field,value",
    [
        ("resource", "schema:postgres.public"),
        ("template", "readwrite"),
        ("principal", Principal(user_id="u-carol")),
        ("not_after", utcnow() + timedelta(days=30)),
    ],
)
async def test_signed_command_altered_afterwards_is_refused(
    secured: RunningLatchkey, field: str, value: Any
) -> None:
    tampered = _sign(secured, _grant(secured)).model_copy(update={field: value})
    await _assert_refused(secured, tampered, {"bad_signature"})


async def test_unsigned_command_is_refused(secured: RunningLatchkey) -> None:
    await _assert_refused(secured, _grant(secured), {"bad_signature"})


async def test_expired_command_is_refused(secured: RunningLatchkey) -> None:
    past = utcnow() - timedelta(minutes=10)
    command = _sign(secured, _grant(secured, issued_at=past, not_after=past + timedelta(minutes=2)))
    await _assert_refused(secured, command, {"expired"})


async def test_command_from_the_future_is_refused(secured: RunningLatchkey) -> None:
    future = utcnow() + timedelta(hours=1)
    command = _sign(secured, _grant(secured, issued_at=future, not_after=future + timedelta(minutes=2)))
    await _assert_refused(secured, command, {"not_yet_valid"})


async def test_command_naming_a_template_the_connector_lacks_is_refused(secured: RunningLatchkey) -> None:
    for template in ("superuser", "owner", "../../etc/passwd"):  # owner exists on disk but is not allowed
        await _assert_refused(
            secured,
            _sign(secured, _grant(secured, template=template)),
            {"unknown_template", "invalid_parameters"},
        )


async def test_command_for_another_connector_or_integration_is_refused(secured: RunningLatchkey) -> None:
    await _assert_refused(secured, _sign(secured, _grant(secured, connector_id="other")), {"wrong_connector"})
    await _assert_refused(
        secured, _sign(secured, _grant(secured, integration_id="prod-db")), {"unknown_integration"}
    )


async def test_replayed_command_is_refused_and_the_grant_applied_once(secured: RunningLatchkey) -> None:
    requester = Requester("u-mallory", "mallory@example.com")
    command = _sign(secured, _grant(secured, requester_public_key=requester.public_key))
    await _send(secured, command)
    first = await _result_of(secured, command.command_id)
    assert isinstance(first, CommandApplied) and first.sealed_credentials, first
    user = requester.open_sealed(first.sealed_credentials)["user"]
    assert user == login_role_name("u-mallory", command.grant_id) and _role_exists(secured, user)
    roles = _granted(secured)

    await _send(secured, command)  # the attacker captured it off the bus and sends it again
    async with TopicReader(secured.bootstrap, secured.topic(RESULTS.name), RESULTS) as results:

        def both(records: list[Any]) -> bool:
            return sum(getattr(r.event, "command_id", None) == command.command_id for r in records) >= 2

        await results.wait_for(both, 30, "result of the replay")
        outcomes = [
            r.event for r in results.records if getattr(r.event, "command_id", None) == command.command_id
        ]
    replay = outcomes[1]
    assert isinstance(replay, CommandFailed) and replay.code == "replayed", replay
    assert not getattr(replay, "sealed_credentials", None), "the replay must not hand out credentials again"
    assert _granted(secured) == roles

    now = utcnow()
    revoke = _sign(
        secured,
        RevokeCommand(
            command_id=str(uuid7()),
            grant_id=command.grant_id,
            connector_id=command.connector_id,
            integration_id=command.integration_id,
            issued_at=now,
            not_after=now + timedelta(minutes=2),
            template="readonly",
            resource=command.resource,
            principal=command.principal,
            rotate_credentials=True,
        ),
    )
    await _send(secured, revoke)
    assert isinstance(await _result_of(secured, revoke.command_id), CommandApplied)
    assert not _role_exists(secured, user)


INJECTIONS = [
    "x'; DROP TABLE orders; --",
    'x"; DROP TABLE orders; --',
    "public; DROP ROLE latchkey",
    "orders) TO PUBLIC; --",
    "$$; ALTER ROLE lk_x SUPERUSER; $$",
    "\x00nul",
    "a" * 300,
]


@pytest.mark.parametrize("payload", INJECTIONS, ids=[f"inj{i}" for i in range(len(INJECTIONS))])
@pytest.mark.parametrize("field", ["resource", "schema", "role", "user_id", "template", "grant_id"])
async def test_injection_in_any_field_changes_nothing_it_should_not(
    secured: RunningLatchkey, field: str, payload: str
) -> None:
    assert secured.system.target is not None
    database = secured.system.target.name
    try:
        overrides: dict[str, Any] = {
            "resource": lambda: {"resource": f"schema:{database}.{payload}"},
            "schema": lambda: {"resource": f"schema:{payload}.public"},
            "role": lambda: {"parameters": {"role": payload}},
            "user_id": lambda: {"principal": Principal(user_id=payload.replace("\x00", "") or "x")},
            "template": lambda: {"template": payload[:128]},
            "grant_id": lambda: {"grant_id": payload[:256]},
        }[field]()
        command = _sign(secured, _grant(secured, **overrides))
    except ValueError:
        pytest.skip("the contract itself refuses this value")  # e.g. over a max_length
    roles_before = _granted(secured)
    await _send(secured, command)
    result = await _result_of(secured, command.command_id)
    _target_intact(secured)
    created = _granted(secured) - roles_before
    if isinstance(result, CommandApplied):
        # Only opaque ids may legitimately reach a grant (signed, and only ever turned into a
        # sanitised, hashed role name): resource, template and role parameter never.
        assert field in ("user_id", "grant_id"), f"{field}={payload!r} was applied: {result}"
        assert all(r.replace("_", "").isalnum() for r in created), created
    else:
        assert isinstance(result, CommandFailed) and result.reason
        assert not created, f"refused, yet roles appeared: {created}"
        assert "DROP" not in result.code
    # The reason may quote the refused value, but never a secret.
    assert "CANARY" not in (getattr(result, "reason", "") or "")
