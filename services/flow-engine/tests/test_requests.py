"""Requests through a running flow-engine on real Kafka + PostgreSQL: what comes out on
access.lifecycle.v1 and on the connector's command topic."""

from __future__ import annotations

import asyncio
import base64
import gc
import inspect
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    REQUESTS,
    RESULTS,
    TIMERS,
    USERS,
    AccessFlowDeleted,
    AccessFlowUpserted,
    CancelRequested,
    CommandApplied,
    CommandFailed,
    DeadLetter,
    ExtensionRequested,
    GrantCommand,
    GroupUpserted,
    RequestSubmitted,
    ReviewApproved,
    ReviewDenied,
    RevokeCommand,
    RevokeOverdue,
    RevokeRequested,
    TimerFired,
    UserDeactivated,
    UserUpserted,
    dead_letters,
    utcnow,
    uuid7,
)
from latchkey.flow_engine.app import DECISIONS_GROUP, FlowEngine
from latchkey.flow_engine.domain.flow import AccessFlow, flow_digest
from latchkey.runtime import Batch, Received
from latchkey.runtime.consuming import LINGER_FILL_BYTES
from latchkey.runtime.db import read_together
from latchkey.runtime.signing import CommandVerifier, load_private_key, load_public_key, public_key_of
from latchkey.runtime.testing.oidc import TestIssuer

from .conftest import CONNECTOR, GROUP_MEMBERS, Bus

pytestmark = pytest.mark.infra


def rid() -> str:
    return f"req-{uuid.uuid4().hex[:12]}"


def submit(
    idp: TestIssuer, request_id: str, who: str = "u-alice", permission: str = "readonly", **kw: object
) -> RequestSubmitted:
    email = f"{who.removeprefix('u-')}@example.com"
    values: dict = {"resource": "orders-db", "integration_id": "pg-prod", "permission": permission}
    values.update(kw)
    return RequestSubmitted(request_id=request_id, id_token=idp.mint(who, email), **values)


def verify(command: dict, signing_key: str) -> GrantCommand | RevokeCommand:
    parsed = (GrantCommand if command["type"] == "connector.grant" else RevokeCommand).model_validate(command)
    public = load_public_key(public_key_of(load_private_key(signing_key)))
    CommandVerifier({"default": public}).verify(parsed)
    return parsed


async def activate(bus: Bus, request_id: str, sealed: str | None = None) -> None:
    grant = (await bus.wait_for(lambda: bus.commands(request_id), what="grant command"))[0]
    await bus.publish(
        RESULTS,
        CommandApplied(
            command_id=grant["command_id"],
            grant_id=request_id,
            connector_id=CONNECTOR,
            command_type="connector.grant",
            attempt=1,
            sealed_credentials=sealed,
        ),
    )
    await bus.wait_types(request_id, "access.grant.activated")


async def test_automatic_flow_sends_signed_grant_to_the_connector(
    running: tuple[FlowEngine, Bus], idp: TestIssuer, signing_key: str
) -> None:
    engine, bus = running
    request_id = rid()
    await bus.publish(
        REQUESTS,
        submit(
            idp, request_id, requester_public_key=base64.b64encode(b"k" * 32).decode(), duration_seconds=99999
        ),
    )
    events = await bus.wait_types(request_id, "access.grant.requested")
    assert [e["type"] for e in events] == [
        "access.request.created",
        "access.request.approved",
        "access.grant.requested",
    ]
    created = events[0]
    assert created["requester_id"] == "u-alice" and created["flow_name"] == "orders-readonly"
    assert created["duration_seconds"] == 7200  # clamped to the flow's maxDuration
    command = verify((await bus.wait_commands(request_id, 1))[0], signing_key)
    assert isinstance(command, GrantCommand)
    assert (command.template, command.resource, command.principal.user_id) == (
        "readonly",
        "orders-db",
        "u-alice",
    )
    assert command.requester_public_key and command.command_id == events[2]["command_id"]
    assert timedelta(0) < command.not_after - command.issued_at <= timedelta(minutes=5)
    await activate(bus, request_id, sealed="c2VhbGVk")
    activated = bus.lifecycle(request_id)[-1]
    assert activated["sealed_credentials"] == "c2VhbGVk" and activated["connector_id"] == CONNECTOR
    async with engine.service.engine.connect() as conn:
        state = await conn.scalar(
            sa.select(engine.store.requests.c.state).where(engine.store.requests.c.request_id == request_id)
        )
    assert state == "active"


async def test_two_step_flow_commands_only_after_group_and_manager(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", justification="incident 7"))
    created = (await bus.wait_types(request_id, "access.request.created"))[0]
    assert created["automatic"] is False and created["approval_deadline"]
    # who may review step 1 is announced: the db-admins (bob is not one), with the request's deadline
    asked = first_of(await bus.wait_types(request_id, "access.review.requested"), "access.review.requested")
    assert (asked["step"], asked["extension"], asked["approval_deadline"]) == (
        0,
        False,
        created["approval_deadline"],
    )
    assert asked["step_description"] == "step 1: any of group db-admins"
    assert asked["reviewers"] == [
        {"user_id": "u-alice", "email": "alice@example.com"},
        {"user_id": "u-dba", "email": "dba@example.com"},
    ]
    assert bus.types(request_id).index("access.review.requested") > bus.types(request_id).index(
        "access.request.created"
    )
    # the manager first: not an approver for step 1
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-mgr", "mgr@example.com"))
    )
    await bus.wait_types(request_id, "access.review.refused")
    # the requester can never approve (bob is not a DBA; alice is DBA but here tries on her own request below)
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-dba", "dba@example.com"))
    )
    await bus.wait_for(lambda: "access.review.recorded" in bus.types(request_id))
    assert bus.commands(request_id) == []
    # step 2 opens: only bob's manager may review it
    await bus.wait_for(lambda: bus.types(request_id).count("access.review.requested") == 2, what="step 2")
    second = [e for e in bus.lifecycle(request_id) if e["type"] == "access.review.requested"][1]
    assert (second["step"], second["step_description"]) == (1, "step 2: all of the requester's manager")
    assert second["reviewers"] == [{"user_id": "u-mgr", "email": "mgr@example.com"}]
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-mgr", "mgr@example.com"))
    )
    events = await bus.wait_types(request_id, "access.grant.requested")
    approved = next(e for e in events if e["type"] == "access.request.approved")
    assert approved["approver_ids"] == ["u-dba", "u-mgr"]
    assert len(await bus.wait_commands(request_id, 1)) == 1


async def test_self_approval_through_a_group_is_refused(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-alice", "readwrite", justification="migration"))
    await bus.wait_types(request_id, "access.request.created")
    # alice is a db-admin, but not a reviewer of her own request
    asked = first_of(await bus.wait_types(request_id, "access.review.requested"), "access.review.requested")
    assert [r["user_id"] for r in asked["reviewers"]] == ["u-dba"]
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-alice", "alice@example.com"))
    )
    refused = (await bus.wait_types(request_id, "access.review.refused"))[-1]
    assert "own request" in refused["reason"]
    assert "access.review.recorded" not in bus.types(request_id)


async def until_stored(engine: FlowEngine, query: sa.Select[Any], expected: tuple[Any, ...]) -> None:
    """Until `query`'s first row in flow-engine's database is `expected` (a batch committed)."""
    for _ in range(300):
        async with engine.service.engine.connect() as conn:
            found = (await conn.execute(query)).first()
        if found is not None and tuple(found) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not stored within 15 s: {expected}, found {found}")


async def wait_stored(engine: FlowEngine, user_id: str, email: str, manager_id: str | None = None) -> None:
    """Until flow-engine has stored `user_id` with `email` and `manager_id`."""
    users = engine.store.users
    query = sa.select(users.c.email, users.c.manager_id).where(users.c.user_id == user_id)
    await until_stored(engine, query, (email, manager_id))


async def test_open_step_is_announced_again_when_who_may_review_it_changes(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    engine, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", justification="incident 9"))
    await bus.wait_types(request_id, "access.review.requested")

    def announced() -> list[dict[str, Any]]:
        return [e for e in bus.lifecycle(request_id) if e["type"] == "access.review.requested"]

    def names(event: dict[str, Any]) -> list[str]:
        return [r["user_id"] for r in event["reviewers"]]

    assert (names(announced()[0]), announced()[0]["update"]) == (["u-alice", "u-dba"], False)
    # Changes that leave the step's reviewers as they were announce nothing: an admin's new email, a
    # new employee in no group, a DBA's new manager (the step is looked at again, the list is the
    # same). (Stored before the next change, so a wrong announcement would come first on the
    # request's partition and fail the next assertion.)
    await bus.publish(USERS, UserUpserted(user_id="u-admin", email="root@example.com"))
    await bus.publish(USERS, UserUpserted(user_id="u-erin", email="erin@example.com"))
    await bus.publish(USERS, UserUpserted(user_id="u-dba", email="dba@example.com", manager_id="u-admin"))
    await wait_stored(engine, "u-admin", "root@example.com")
    await wait_stored(engine, "u-erin", "erin@example.com")
    await wait_stored(engine, "u-dba", "dba@example.com", "u-admin")
    await bus.publish(USERS, UserUpserted(user_id="u-dba", email="dba@example.com"))
    await wait_stored(engine, "u-dba", "dba@example.com")
    try:
        # she joins the step's group: the step is announced again, naming her
        await bus.publish(
            GROUPS,
            GroupUpserted(group_id="g-dba", name="db-admins", member_ids=["u-dba", "u-alice", "u-erin"]),
        )
        await bus.wait_for(lambda: len(announced()) == 2, what="the step announced again")
        again = announced()[1]
        assert (again["step"], again["update"], names(again)) == (0, True, ["u-alice", "u-dba", "u-erin"])
        assert again["approval_deadline"] == announced()[0]["approval_deadline"]
        # her email changes: the list says so; she is deactivated: the list drops her
        await bus.publish(USERS, UserUpserted(user_id="u-erin", email="erin.k@example.com"))
        await bus.wait_for(lambda: len(announced()) == 3, what="her new email announced")
        assert {"user_id": "u-erin", "email": "erin.k@example.com"} in announced()[2]["reviewers"]
        await bus.publish(USERS, UserDeactivated(user_id="u-erin"))
        await bus.wait_for(lambda: len(announced()) == 4, what="her deactivation announced")
        assert names(announced()[3]) == ["u-alice", "u-dba"]
    finally:
        await bus.publish(
            GROUPS, GroupUpserted(group_id="g-dba", name="db-admins", member_ids=["u-dba", "u-alice"])
        )
    # an approval closes the step: later changes announce nothing for it
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-dba", "dba@example.com"))
    )
    await bus.wait_for(lambda: len(announced()) == 5, what="step 2 opened")
    assert (announced()[4]["step"], announced()[4]["update"]) == (1, False)
    await bus.publish(USERS, UserUpserted(user_id="u-admin", email="admin@example.com"))
    await wait_stored(engine, "u-admin", "admin@example.com")
    await bus.publish(
        REQUESTS,
        CancelRequested(request_id=request_id, id_token=idp.mint("u-bob", "bob@example.com"), reason="done"),
    )
    await bus.wait_types(request_id, "access.request.cancelled")
    assert len(announced()) == 5


async def test_a_large_approver_group_is_read_only_as_far_as_a_review_list_needs(
    running: tuple[FlowEngine, Bus],
) -> None:
    """Who a step of a big group names is read in user id order, active members only, and no further
    than asked: a ReviewRequested lists 500, so a group of thousands costs a few hundred rows."""
    engine, bus = running
    members = [f"u-big-{i:03d}" for i in range(40)]
    for i, user in enumerate(members):
        await bus.publish(USERS, UserUpserted(user_id=user, email=f"{user}@example.com", active=i != 2))
    await bus.publish(GROUPS, GroupUpserted(group_id="g-big", name="big", member_ids=list(reversed(members))))
    m = engine.store.members
    await until_stored(engine, sa.select(sa.func.count()).where(m.c.group_id == "g-big"), (len(members),))
    await wait_stored(engine, members[-1], f"{members[-1]}@example.com")
    async with engine.service.sessions() as session, session.begin():
        by_name, by_id_and_user = await read_together(
            session,
            engine.store.named_users_read([], ["big"], 5),
            engine.store.named_users_read(["DBA@EXAMPLE.COM"], ["g-big"], 100),
        )
    assert by_name == {members[0], members[1], members[3], members[4], members[5]}  # 002 is inactive
    assert by_id_and_user == (set(members) - {members[2]}) | {"u-dba"}  # a user named by email, too


async def test_unmatched_request_is_denied_with_actionable_reason(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, resource="billing-db"))
    denied = (await bus.wait_types(request_id, "access.request.denied"))[-1]
    assert denied["reason"].startswith(
        "no Access Flow lets groups db-admins, engineering request readonly on billing-db"
    )
    # no RequestCreated precedes it, so the denial itself says who asked for what (for the audit)
    assert (denied["requester_id"], denied["resource"], denied["permission"]) == (
        "u-alice",
        "billing-db",
        "readonly",
    )
    no_justification = rid()
    await bus.publish(REQUESTS, submit(idp, no_justification, "u-bob", "readwrite"))
    denied = (await bus.wait_types(no_justification, "access.request.denied"))[-1]
    assert "requires a justification" in denied["reason"]


async def test_reviewer_denial_ends_the_request(running: tuple[FlowEngine, Bus], idp: TestIssuer) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", justification="x"))
    await bus.wait_types(request_id, "access.request.created")
    await bus.publish(
        REQUESTS,
        ReviewDenied(
            request_id=request_id, id_token=idp.mint("u-dba", "dba@example.com"), reason="use readonly"
        ),
    )
    denied = (await bus.wait_types(request_id, "access.request.denied"))[-1]
    assert denied["denied_by"] == "u-dba" and "use readonly" in denied["reason"]
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-mgr", "mgr@example.com"))
    )
    await bus.wait_for(lambda: bus.types(request_id).count("access.review.refused") == 1)
    assert bus.commands(request_id) == []


async def test_approval_timeout_expires_a_pending_request(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", justification="x"))
    await bus.wait_types(request_id, "access.request.created")
    fired = TimerFired(
        timer_id=f"{request_id}:approval_timeout",
        kind="approval_timeout",
        request_id=request_id,
        due_at=utcnow(),
    )
    await bus.publish(TIMERS, fired)
    await bus.wait_types(request_id, "access.request.expired")
    await bus.publish(TIMERS, fired)  # the same firing again: processed once
    await bus.publish(
        REQUESTS, ReviewApproved(request_id=request_id, id_token=idp.mint("u-dba", "dba@example.com"))
    )
    await bus.wait_types(request_id, "access.review.refused")
    assert bus.types(request_id).count("access.request.expired") == 1


async def test_cancel_by_requester_only(running: tuple[FlowEngine, Bus], idp: TestIssuer) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", justification="x"))
    await bus.wait_types(request_id, "access.request.created")
    await bus.publish(
        REQUESTS, CancelRequested(request_id=request_id, id_token=idp.mint("u-carol", "carol@example.com"))
    )
    refused = (await bus.wait_types(request_id, "access.action.refused"))[-1]
    assert (refused["action"], refused["actor_id"], refused["code"]) == (
        "access.cancel.requested",
        "u-carol",
        "not_allowed",
    )
    await bus.publish(
        REQUESTS,
        CancelRequested(request_id=request_id, id_token=idp.mint("u-bob", "bob@example.com"), reason="done"),
    )
    await bus.wait_types(request_id, "access.request.cancelled")
    # Carol's refused cancel left the request as it was: its story never says the request was rejected.
    assert "access.request.rejected" not in bus.types(request_id)
    # A cancel under a forged token names nobody: refused, and no actor is put on record.
    forged_token = idp.forge("u-bob", "bob@example.com")
    await bus.publish(REQUESTS, CancelRequested(request_id=request_id, id_token=forged_token))
    await bus.wait_for(lambda: bus.types(request_id).count("access.action.refused") == 2)
    forged = bus.lifecycle(request_id)[-1]
    assert (forged["type"], forged["actor_id"]) == ("access.action.refused", None)
    assert forged["code"] == "invalid_token"


async def test_extension_then_early_revoke_then_confirmation(
    running: tuple[FlowEngine, Bus], idp: TestIssuer, signing_key: str
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-carol"))
    await activate(bus, request_id)
    expires = bus.lifecycle(request_id)[-1]["expires_at"]
    await bus.publish(
        REQUESTS,
        ExtensionRequested(
            request_id=request_id, id_token=idp.mint("u-carol", "carol@example.com"), extra_seconds=3600
        ),
    )
    extended = (await bus.wait_types(request_id, "access.grant.extended"))[-1]
    from datetime import datetime

    gained = datetime.fromisoformat(extended["expires_at"]) - datetime.fromisoformat(expires)
    assert gained == timedelta(minutes=30)  # capped by extension.maxTotal
    await bus.publish(
        REQUESTS,
        ExtensionRequested(
            request_id=request_id, id_token=idp.mint("u-carol", "carol@example.com"), extra_seconds=60
        ),
    )
    refused = (await bus.wait_types(request_id, "access.action.refused"))[-1]
    assert (refused["action"], refused["code"]) == ("access.extension.requested", "extension_limit")
    # an admin may revoke someone else's grant
    await bus.publish(
        REQUESTS, RevokeRequested(request_id=request_id, id_token=idp.mint("u-admin", "admin@example.com"))
    )
    revoking = (await bus.wait_types(request_id, "access.grant.revoking"))[-1]
    assert revoking["reason"] == "requested" and revoking["attempt"] == 1
    revoke = verify((await bus.wait_commands(request_id, 2))[-1], signing_key)
    assert isinstance(revoke, RevokeCommand) and revoke.rotate_credentials
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=revoke.command_id,
            grant_id=request_id,
            connector_id=CONNECTOR,
            command_type="connector.revoke",
            attempt=1,
            code="target_error",
            reason="db down",
            retryable=True,
        ),
    )
    failed = (await bus.wait_types(request_id, "access.grant.revoke_failed"))[-1]
    assert failed["attempt"] == 1
    await bus.publish(
        TIMERS,
        TimerFired(timer_id="t", kind="revoke_retry", request_id=request_id, due_at=utcnow(), attempt=2),
    )
    await bus.wait_for(
        lambda: [
            e for e in bus.lifecycle(request_id) if e["type"] == "access.grant.revoking" and e["attempt"] == 2
        ]
    )
    await bus.publish(TIMERS, RevokeOverdue(request_id=request_id, attempts=2, first_due_at=utcnow()))
    await bus.wait_types(request_id, "access.grant.revoke_overdue")
    retry = verify((await bus.wait_commands(request_id, 3))[-1], signing_key)
    assert retry.attempt == 2
    await bus.publish(
        RESULTS,
        CommandApplied(
            command_id=retry.command_id,
            grant_id=request_id,
            connector_id=CONNECTOR,
            command_type="connector.revoke",
            attempt=2,
            credential_rotated=True,
        ),
    )
    events = await bus.wait_types(request_id, "access.grant.revoked", "access.credential.rotated")
    assert next(e for e in events if e["type"] == "access.grant.revoked")["reason"] == "requested"


def first_of(story: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    return next(e for e in story if e["type"] == event_type)


def ask_more(
    idp: TestIssuer, request_id: str, who: str, justification: str | None = "still migrating"
) -> ExtensionRequested:
    email = f"{who.removeprefix('u-')}@example.com"
    return ExtensionRequested(
        request_id=request_id, id_token=idp.mint(who, email), extra_seconds=3600, justification=justification
    )


def approve(
    idp: TestIssuer, request_id: str, who: str, deny: bool = False, reason: str | None = None
) -> ReviewApproved | ReviewDenied:
    review = ReviewDenied if deny else ReviewApproved
    return review(
        request_id=request_id, id_token=idp.mint(who, f"{who.removeprefix('u-')}@example.com"), reason=reason
    )


async def approved_readwrite_grant(bus: Bus, idp: TestIssuer, who: str) -> str:
    """An active readwrite grant of `who` (approved by a db admin and the manager)."""
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, who, "readwrite", justification="migration"))
    await bus.wait_types(request_id, "access.request.created")
    await bus.publish(REQUESTS, approve(idp, request_id, "u-dba"))
    await bus.wait_types(request_id, "access.review.recorded")
    await bus.publish(REQUESTS, approve(idp, request_id, "u-mgr"))
    await activate(bus, request_id)
    return request_id


async def test_extension_needing_approval_waits_for_every_step_then_extends(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    engine, bus = running
    request_id = await approved_readwrite_grant(bus, idp, "u-bob")
    ends = datetime.fromisoformat(bus.lifecycle(request_id)[-1]["expires_at"])
    await bus.publish(REQUESTS, ask_more(idp, request_id, "u-bob", justification=None))
    refused = (await bus.wait_types(request_id, "access.action.refused"))[-1]
    assert refused["code"] == "justification_required"  # the flow's rules apply as to a new request
    await bus.publish(REQUESTS, ask_more(idp, request_id, "u-bob"))
    story = await bus.wait_types(request_id, "access.grant.extension_requested")
    asked = [e for e in story if e["type"] == "access.grant.extension_requested"][-1]
    assert (asked["requested_by"], asked["extra_seconds"]) == ("u-bob", 1800)  # maxTotal 30m
    assert datetime.fromisoformat(asked["expires_at"]) == ends and len(asked["steps"]) == 2
    await bus.publish(REQUESTS, approve(idp, request_id, "u-bob"))  # the requester, on their own extension
    refused = (await bus.wait_types(request_id, "access.review.refused"))[-1]
    assert "own request" in refused["reason"]
    await bus.publish(REQUESTS, approve(idp, request_id, "u-dba"))
    await bus.wait_for(
        lambda: [
            e for e in bus.lifecycle(request_id) if e["type"] == "access.review.recorded" and e["extension"]
        ],
        what="review",
    )
    await bus.publish(REQUESTS, approve(idp, request_id, "u-mgr"))
    extended = (await bus.wait_types(request_id, "access.grant.extended"))[-1]
    # each step of the extension was announced, after the request's own two
    announced = [e for e in bus.lifecycle(request_id) if e["type"] == "access.review.requested"]
    assert [(e["extension"], e["step"], [r["user_id"] for r in e["reviewers"]]) for e in announced] == [
        (False, 0, ["u-alice", "u-dba"]),
        (False, 1, ["u-mgr"]),
        (True, 0, ["u-alice", "u-dba"]),
        (True, 1, ["u-mgr"]),
    ]
    assert announced[2]["approval_deadline"] == asked["approval_deadline"]
    assert extended["approver_ids"] == ["u-dba", "u-mgr"]
    assert datetime.fromisoformat(extended["expires_at"]) == ends + timedelta(minutes=30)
    types = bus.types(request_id)
    assert types.count("access.grant.extended") == 1
    assert types.index("access.grant.extended") > types.index("access.grant.extension_requested")
    recorded = [e for e in bus.lifecycle(request_id) if e["type"] == "access.review.recorded"]
    assert [(e["reviewer_id"], e["step"], e["extension"]) for e in recorded] == [
        ("u-dba", 0, False),
        ("u-mgr", 1, False),
        ("u-dba", 0, True),
        ("u-mgr", 1, True),
    ]
    assert len(bus.commands(request_id)) == 1  # the grant command only: an extension needs no new one
    q = engine.store.requests
    async with engine.service.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(q.c.state, q.c.expires_at, q.c.extended_seconds, q.c.pending_extension).where(
                    q.c.request_id == request_id
                )
            )
        ).one()
    assert (row.state, row.extended_seconds, row.pending_extension) == ("active", 1800, None)
    assert row.expires_at == ends + timedelta(minutes=30)


async def test_denied_timed_out_or_revoked_extension_leaves_the_grant_as_it_was(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    engine, bus = running
    request_id = await approved_readwrite_grant(bus, idp, "u-dave")
    ends = bus.lifecycle(request_id)[-1]["expires_at"]
    await bus.publish(REQUESTS, ask_more(idp, request_id, "u-dave"))
    await bus.wait_types(request_id, "access.grant.extension_requested")
    await bus.publish(REQUESTS, ask_more(idp, request_id, "u-dave"))  # a second one while the first waits
    assert (await bus.wait_types(request_id, "access.action.refused"))[-1]["code"] == "extension_pending"
    await bus.publish(REQUESTS, approve(idp, request_id, "u-dba", deny=True, reason="use a new request"))
    denied = (await bus.wait_types(request_id, "access.grant.extension_denied"))[-1]
    assert denied["denied_by"] == "u-dba" and "use a new request" in denied["reason"]
    await bus.publish(REQUESTS, approve(idp, request_id, "u-mgr"))  # nothing is waiting for review now
    refused = (await bus.wait_types(request_id, "access.review.refused"))[-1]
    assert "no extension waiting for approval" in refused["reason"]

    await bus.publish(REQUESTS, ask_more(idp, request_id, "u-dave"))
    await bus.wait_for(lambda: bus.types(request_id).count("access.grant.extension_requested") == 2)
    deadline = bus.lifecycle(request_id)[-1]["approval_deadline"]
    await bus.publish(
        TIMERS,
        TimerFired(
            timer_id="x",
            kind="approval_timeout",
            request_id=request_id,
            due_at=datetime.fromisoformat(deadline),
        ),
    )
    await bus.wait_for(lambda: bus.types(request_id).count("access.grant.extension_denied") == 2)
    assert "no approval of the extension" in bus.lifecycle(request_id)[-1]["reason"]

    await bus.publish(REQUESTS, ask_more(idp, request_id, "u-dave"))
    await bus.wait_for(lambda: bus.types(request_id).count("access.grant.extension_requested") == 3)
    await bus.publish(
        REQUESTS, RevokeRequested(request_id=request_id, id_token=idp.mint("u-dave", "dave@example.com"))
    )
    await bus.wait_for(lambda: bus.types(request_id).count("access.grant.extension_denied") == 3)
    assert bus.types(request_id)[-2:] == ["access.grant.revoking", "access.grant.extension_denied"]
    assert "access.grant.extended" not in bus.types(request_id)
    q = engine.store.requests
    async with engine.service.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(q.c.state, q.c.expires_at, q.c.pending_extension).where(
                    q.c.request_id == request_id
                )
            )
        ).one()
    assert (row.state, row.pending_extension) == ("revoking", None)
    assert row.expires_at == datetime.fromisoformat(ends)


async def test_grant_end_timer_revokes_and_failed_grant_is_reported(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-dave"))
    await activate(bus, request_id)
    expires_at = bus.lifecycle(request_id)[-1]["expires_at"]
    from datetime import datetime

    await bus.publish(
        TIMERS,
        TimerFired(
            timer_id="e", kind="grant_end", request_id=request_id, due_at=datetime.fromisoformat(expires_at)
        ),
    )
    revoking = (await bus.wait_types(request_id, "access.grant.revoking"))[-1]
    assert revoking["reason"] == "expired"
    failing = rid()
    await bus.publish(REQUESTS, submit(idp, failing, "u-dave"))
    grant = (await bus.wait_for(lambda: bus.commands(failing)))[0]
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=grant["command_id"],
            grant_id=failing,
            connector_id=CONNECTOR,
            command_type="connector.grant",
            code="unknown_template",
            reason="template readonly is not installed",
        ),
    )
    failed = (await bus.wait_types(failing, "access.grant.failed"))[-1]
    assert "template readonly is not installed" in failed["reason"]


async def test_a_grant_that_failed_after_it_may_have_applied_is_revoked_before_it_ends_failed(
    running: tuple[FlowEngine, Bus], idp: TestIssuer, signing_key: str
) -> None:
    """A grant the connector reports failed but possibly applied (a later operation failed, a call
    timed out) is revoked like an expired one, retried until confirmed, and only that confirmation
    ends the request in access.grant.failed. A failure that applied nothing ends it at once."""
    _, bus = running
    unsure, older, refused = rid(), rid(), rid()
    for request_id in (unsure, older, refused):
        await bus.publish(REQUESTS, submit(idp, request_id, "u-dave"))
    grants = {
        request_id: verify((await bus.wait_for(lambda r=request_id: bus.commands(r)))[0], signing_key)
        for request_id in (unsure, older, refused)
    }
    common = {"connector_id": CONNECTOR, "command_type": "connector.grant", "attempt": 1}
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=grants[unsure].command_id,
            grant_id=unsure,
            code="target_error",
            reason="aws attach_managed_policy failed: NoSuchEntity: policy SecondPolicy",
            may_have_applied=True,
            **common,
        ),
    )
    # a connector older than may_have_applied: decided by its code (the integration ran)
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=grants[older].command_id, grant_id=older, code="timeout", reason="60s", **common
        ),
    )
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=grants[refused].command_id,
            grant_id=refused,
            code="target_error",
            reason="role ro does not exist",
            may_have_applied=False,
            **common,
        ),
    )
    for request_id in (unsure, older):
        revoking = (await bus.wait_types(request_id, "access.grant.revoking"))[-1]
        assert (revoking["reason"], revoking["attempt"]) == ("failed", 1)
        revoke = verify((await bus.wait_commands(request_id, 2))[-1], signing_key)
        assert isinstance(revoke, RevokeCommand)
        assert (revoke.resource, revoke.template) == (
            grants[request_id].resource,
            grants[request_id].template,
        )
        assert revoking["command_id"] == revoke.command_id
    assert "NoSuchEntity" in (await bus.wait_types(unsure, "access.grant.revoking"))[-1]["detail"]
    failed_at_once = (await bus.wait_types(refused, "access.grant.failed"))[-1]
    assert "role ro does not exist" in failed_at_once["reason"]
    assert "access.grant.revoking" not in bus.types(refused) and len(bus.commands(refused)) == 1

    # the revoke itself fails once, is retried (expiry's timer), and is then confirmed
    first = verify(bus.commands(unsure)[-1], signing_key)
    revoke_common = {"grant_id": unsure, "connector_id": CONNECTOR, "command_type": "connector.revoke"}
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=first.command_id,
            attempt=1,
            code="target_error",
            reason="throttled",
            retryable=True,
            **revoke_common,
        ),
    )
    await bus.wait_types(unsure, "access.grant.revoke_failed")
    assert "access.grant.failed" not in bus.types(unsure)
    await bus.publish(
        TIMERS, TimerFired(timer_id="t", kind="revoke_retry", request_id=unsure, due_at=utcnow(), attempt=2)
    )
    retry = verify((await bus.wait_commands(unsure, 3))[-1], signing_key)
    assert isinstance(retry, RevokeCommand) and retry.attempt == 2
    again = [e for e in bus.lifecycle(unsure) if e["type"] == "access.grant.revoking"][-1]
    assert (again["reason"], again["attempt"]) == ("retry", 2) and "NoSuchEntity" in again["detail"]
    await bus.publish(RESULTS, CommandApplied(command_id=retry.command_id, attempt=2, **revoke_common))
    ended = (await bus.wait_types(unsure, "access.grant.failed"))[-1]
    assert "NoSuchEntity" in ended["reason"] and "revoked" in ended["reason"]
    assert bus.types(unsure) == [
        "access.request.created",
        "access.request.approved",
        "access.grant.requested",
        "access.grant.revoking",
        "access.grant.revoke_failed",
        "access.grant.revoking",
        "access.grant.failed",
    ]


async def test_a_grant_applied_after_its_failure_was_reported_is_revoked(
    running: tuple[FlowEngine, Bus], idp: TestIssuer, signing_key: str
) -> None:
    """A failure of the grant's command reaches flow-engine first (forged by another principal on the
    results topic, say), then the connector really applies it: the access exists, so flow-engine
    revokes it and the request ends failed once the revoke is confirmed."""
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-dave"))
    grant = verify((await bus.wait_for(lambda: bus.commands(request_id)))[0], signing_key)
    common = {
        "grant_id": request_id,
        "connector_id": CONNECTOR,
        "command_type": "connector.grant",
        "attempt": 1,
    }
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=grant.command_id, code="expired", reason="forged", may_have_applied=False, **common
        ),
    )
    await bus.wait_types(request_id, "access.grant.failed")
    await bus.publish(RESULTS, CommandApplied(command_id=grant.command_id, **common))
    revoking = (await bus.wait_types(request_id, "access.grant.revoking"))[-1]
    assert revoking["reason"] == "failed" and "applied the grant after" in revoking["detail"]
    revoke = verify((await bus.wait_commands(request_id, 2))[-1], signing_key)
    assert isinstance(revoke, RevokeCommand) and revoke.resource == grant.resource
    await bus.publish(
        RESULTS,
        CommandApplied(
            command_id=revoke.command_id,
            grant_id=request_id,
            connector_id=CONNECTOR,
            command_type="connector.revoke",
            attempt=1,
        ),
    )
    await bus.wait_for(lambda: bus.types(request_id).count("access.grant.failed") == 2)
    assert bus.types(request_id)[-3:] == [
        "access.grant.failed",
        "access.grant.revoking",
        "access.grant.failed",
    ]
    assert "access.grant.activated" not in bus.types(request_id)


async def test_deactivated_requester_loses_pending_and_active_access(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    pending, active = rid(), rid()
    await bus.publish(REQUESTS, submit(idp, pending, "u-carol", "readwrite", justification="x"))
    await bus.publish(REQUESTS, submit(idp, active, "u-carol"))
    await activate(bus, active)
    await bus.wait_types(pending, "access.request.created")
    await bus.publish(USERS, UserDeactivated(user_id="u-carol"))
    await bus.wait_types(pending, "access.request.cancelled")
    revoking = (await bus.wait_types(active, "access.grant.revoking"))[-1]
    assert revoking["reason"] == "deactivated"
    later = rid()
    await bus.publish(REQUESTS, submit(idp, later, "u-carol"))
    denied = (await bus.wait_types(later, "access.request.denied"))[-1]
    assert "deactivated" in denied["reason"]


async def test_a_deactivation_locks_requests_in_the_order_every_batch_does(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """An identity batch locks the requests with a step open and the leaving user's requests in
    request id order, as a request batch locks its requests: while it waits for a request another
    batch holds, it holds none that comes after it, so the two cannot deadlock."""
    engine, bus = running
    await bus.publish(USERS, UserUpserted(user_id="u-gwen", email="gwen@example.com"))
    members = [*GROUP_MEMBERS["g-eng"][1], "u-gwen"]
    await bus.publish(GROUPS, GroupUpserted(group_id="g-eng", name="engineering", member_ids=members))
    await wait_stored(engine, "u-gwen", "gwen@example.com")
    stem = uuid.uuid4().hex[:12]
    held, waiting = f"req-{stem}-a", f"req-{stem}-b"  # held first in request id order
    m = engine.store.members
    await until_stored(engine, sa.select(m.c.user_id).where(m.c.user_id == "u-gwen"), ("u-gwen",))
    await bus.publish(REQUESTS, submit(idp, held, "u-gwen"))
    await activate(bus, held)
    await bus.publish(REQUESTS, submit(idp, waiting, "u-dave", "readwrite", justification="x"))
    await bus.wait_types(waiting, "access.review.requested")
    q = engine.store.requests

    def lock(request_id: str) -> sa.Select[Any]:
        return sa.select(q.c.request_id).where(q.c.request_id == request_id).with_for_update()

    async def identity_batch_waits_for_a_lock() -> bool:
        async with engine.service.engine.connect() as watcher:
            waiting_backends = await watcher.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            )
        return bool(waiting_backends)

    # Another batch holds `held` (the leaving user's grant) and is about to lock `waiting` too.
    async with engine.service.engine.connect() as other:
        await other.execute(lock(held))
        await bus.publish(USERS, UserDeactivated(user_id="u-gwen"))
        for _ in range(300):
            if await identity_batch_waits_for_a_lock():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the identity batch never waited for the held request")
        # Shorter than PostgreSQL's deadlock_timeout (1 s): had the identity batch locked `waiting`
        # before waiting for `held`, this would time out instead of a deadlock being broken.
        await other.execute(sa.text("SET LOCAL lock_timeout = '500ms'"))
        assert (await other.execute(lock(waiting))).scalar_one() == waiting
        await other.commit()
    revoking = (await bus.wait_types(held, "access.grant.revoking"))[-1]
    assert revoking["reason"] == "deactivated"
    assert "access.request.cancelled" not in bus.types(waiting)  # not gwen's: still waiting for review


async def test_a_request_and_a_result_polled_together_are_decided_in_one_transaction(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """Requests and connector results share a consumer: a batch holding both (a new request, the
    result of an earlier grant) is handled in one transaction. Both requests' rows then carry that
    transaction's id (`xmin`), and every event either kind calls for is published."""
    engine, bus = running
    earlier, later = rid(), rid()
    await bus.publish(REQUESTS, submit(idp, earlier, "u-dave"))
    grant = (await bus.wait_for(lambda: bus.commands(earlier), what="grant command"))[0]
    applied = CommandApplied(
        command_id=grant["command_id"],
        grant_id=earlier,
        connector_id=CONNECTOR,
        command_type="connector.grant",
        attempt=1,
    )
    topic = engine.settings.topic
    batch = Batch(
        [
            Received(submit(idp, later, "u-dave"), later, topic(REQUESTS.name), 0, 0, {}, b""),
            Received(applied, earlier, topic(RESULTS.name), 0, 0, {}, b""),
        ]
    )
    await engine.on_requests_and_results(batch)
    await bus.wait_types(earlier, "access.grant.activated")
    await bus.wait_types(later, "access.grant.requested")
    q = engine.store.requests
    async with engine.service.engine.connect() as conn:
        xmin = sa.column("xmin").cast(sa.Text)
        rows = await conn.execute(sa.select(q.c.request_id, xmin).where(q.c.request_id.in_([earlier, later])))
        transactions = {request_id: xmin for request_id, xmin in rows}
    assert set(transactions) == {earlier, later}
    assert transactions[earlier] == transactions[later]


async def test_forged_and_expired_tokens_are_rejected(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    forged, expired = rid(), rid()
    await bus.publish(
        REQUESTS,
        RequestSubmitted(
            request_id=forged,
            id_token=idp.forge("u-alice", "alice@example.com"),
            integration_id="pg-prod",
            resource="orders-db",
            permission="readonly",
        ),
    )
    await bus.publish(
        REQUESTS,
        RequestSubmitted(
            request_id=expired,
            id_token=idp.mint("u-alice", "alice@example.com", expires_in=-300),
            integration_id="pg-prod",
            resource="orders-db",
            permission="readonly",
        ),
    )
    rejected = (await bus.wait_types(forged, "access.request.rejected"))[-1]
    assert rejected["code"] == "invalid_token" and "signature" in rejected["reason"]
    # what was asked is recorded; the asker is not (the token proved no one)
    assert (rejected["resource"], rejected["permission"]) == ("orders-db", "readonly")
    assert "requester_id" not in rejected
    assert (await bus.wait_types(expired, "access.request.rejected"))[-1]["code"] == "expired_token"
    assert bus.commands(forged) == [] and bus.types(forged) == ["access.request.rejected"]


async def test_a_result_counts_only_from_the_grants_connector_and_for_its_latest_command(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """A result another connector reports (forged, or one of another environment on the same bus) is
    refused to the dead-letter topic with the reason; a failure of a command flow-engine did not
    send last changes nothing. The grant then activates on its own command's result."""
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id))
    grant = (await bus.wait_for(lambda: bus.commands(request_id), what="grant command"))[0]
    common = {"grant_id": request_id, "command_type": "connector.grant", "attempt": 1}
    await bus.publish(
        RESULTS, CommandApplied(command_id=grant["command_id"], connector_id="rogue-connector", **common)
    )
    await bus.publish(
        RESULTS,
        CommandFailed(
            command_id=str(uuid7()), connector_id=CONNECTOR, code="target_error", reason="forged", **common
        ),
    )
    await bus.publish(
        RESULTS, CommandApplied(command_id=grant["command_id"], connector_id=CONNECTOR, **common)
    )
    await bus.wait_types(request_id, "access.grant.activated")
    assert "access.grant.failed" not in bus.types(request_id)
    assert bus.types(request_id).count("access.grant.activated") == 1

    consumer = AIOKafkaConsumer(
        bus.prefix + dead_letters(RESULTS).name, bootstrap_servers=bus.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records = [r for batch in (await consumer.getmany(timeout_ms=5000)).values() for r in batch]
        letters = [DeadLetter.model_validate_json(r.value) for r in records]
    finally:
        await consumer.stop()
    refused = [d for d in letters if request_id in d.reason]
    assert len(refused) == 1 and "'rogue-connector'" in refused[0].reason, letters


async def test_duplicate_event_is_processed_once_and_poison_goes_to_dlq(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    event = submit(idp, request_id)
    await bus.publish(REQUESTS, event)
    await bus.publish(REQUESTS, event)
    await bus.publish_raw(REQUESTS, b'{"type": "access.request.submitted", "oops": 1}', key="poison")
    await bus.publish_raw(REQUESTS, b"\xff not json", key="poison")
    after = rid()
    await bus.publish(REQUESTS, submit(idp, after))
    await bus.wait_types(after, "access.grant.requested")
    await bus.wait_types(request_id, "access.grant.requested")
    assert bus.types(request_id).count("access.request.created") == 1
    assert len(await bus.wait_commands(request_id, 1)) == 1
    consumer = AIOKafkaConsumer(
        bus.prefix + dead_letters(REQUESTS).name,
        bootstrap_servers=bus.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records = await consumer.getmany(timeout_ms=5000)
        reasons = [r.value for batch in records.values() for r in batch]
    finally:
        await consumer.stop()
    assert len(reasons) >= 2 and any(b"Invalid JSON" in r for r in reasons)


async def test_invalid_flow_is_dead_lettered_and_deleted_flow_stops_matching(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    engine, bus = running
    bad = AccessFlowUpserted(
        name="broken", spec={"apiVersion": "latchkey/v1", "kind": "AccessFlow"}, digest="x"
    )
    await bus.publish(FLOWS, bad)
    temporary = AccessFlow.model_validate(
        {
            "apiVersion": "latchkey/v1",
            "kind": "AccessFlow",
            "metadata": {"name": "billing-temp"},
            "spec": {
                "requesters": {"users": ["bob@example.com"]},
                "access": {
                    "integration": "pg-prod",
                    "resources": [{"name": "billing-db"}],
                    "permissions": ["readonly"],
                },
                "approval": {"automatic": True},
            },
        }
    ).document()
    await bus.publish(
        FLOWS, AccessFlowUpserted(name="billing-temp", spec=temporary, digest=flow_digest(temporary))
    )
    flows = engine.store.flows

    async def flow_names() -> set[str]:
        async with engine.service.engine.connect() as conn:
            return set((await conn.execute(sa.select(flows.c.name))).scalars())

    deadline = asyncio.get_running_loop().time() + 15
    while "billing-temp" not in await flow_names():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    assert "broken" not in await flow_names()
    allowed = rid()
    await bus.publish(REQUESTS, submit(idp, allowed, "u-bob", resource="billing-db"))
    await bus.wait_types(allowed, "access.grant.requested")
    await bus.publish(FLOWS, AccessFlowDeleted(name="billing-temp"))
    await bus.publish_raw(FLOWS, None, key="billing-temp")
    while "billing-temp" in await flow_names():
        assert asyncio.get_running_loop().time() < deadline + 15
        await asyncio.sleep(0.1)
    refused = rid()
    await bus.publish(REQUESTS, submit(idp, refused, "u-bob", resource="billing-db"))
    assert (
        "no flow covers this resource"
        in (await bus.wait_types(refused, "access.request.denied"))[-1]["reason"]
    )
    dlq = AIOKafkaConsumer(
        bus.prefix + dead_letters(FLOWS).name, bootstrap_servers=bus.bootstrap, auto_offset_reset="earliest"
    )
    await dlq.start()
    try:
        records = [r for b in (await dlq.getmany(timeout_ms=5000)).values() for r in b]
    finally:
        await dlq.stop()
    assert any(b"AccessFlow broken is invalid" in r.value for r in records)


async def test_a_started_service_collects_young_garbage_at_its_configured_threshold(
    running: tuple[FlowEngine, Bus],
) -> None:
    """Set once the service is ready (after `gc.freeze()`); Python's default would be (700, 10, 10)."""
    engine, _ = running
    assert gc.get_threshold() == (engine.service.settings.gc_young_threshold, 50, 100)
    assert engine.service.settings.gc_young_threshold == 50_000  # the default, documented in configuration.md


async def test_the_decisions_consumer_lets_the_broker_fill_its_fetches_for_the_configured_linger(
    running: tuple[FlowEngine, Bus],
) -> None:
    """While requests and connector results come, the broker holds each fetch of them up to
    `decisions_linger_ms` (5 ms by default) or until 64 KiB wait, so a steady stream is decided in
    fewer, larger transactions; the other inputs are fetched as soon as a record is there. Every
    consumer starts with Kafka's long poll (a lingering one goes back to it when idle: the fetch
    requests themselves are checked in the runtime's delivery tests)."""
    engine, _ = running
    settings = engine.service.settings
    assert settings.decisions_linger_ms == 5  # the default, documented in configuration.md
    consumers = [sub for sub in engine.service.broker.subscribers if sub.consumer is not None]
    assert {(s.consumer._fetch_max_wait_ms, s.consumer._fetch_min_bytes) for s in consumers} == {(500, 1)}
    lingers = {
        sub.consumer._group_id: inspect.getclosurevars(sub.get_msg).nonlocals["lingering"]
        for sub in consumers
    }
    assert lingers.pop(settings.group(DECISIONS_GROUP)) == (5, LINGER_FILL_BYTES)
    assert lingers and set(lingers.values()) == {None}, lingers
