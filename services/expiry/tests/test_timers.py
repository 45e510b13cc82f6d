"""Timers follow the lifecycle: grants end on time, extensions move the end, revokes cancel it,
pending requests time out, and a duplicate event never makes a second timer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from latchkey.contracts import (
    LIFECYCLE,
    DeadLetter,
    GrantActivated,
    GrantExtended,
    GrantExtensionDenied,
    GrantExtensionRequested,
    GrantRevoked,
    GrantRevoking,
    RequestApproved,
    RequestCreated,
    uuid7,
)

pytestmark = pytest.mark.infra


def at(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def new_request() -> str:
    return f"req-{uuid7()}"


def activated(request: str, expires_at: datetime) -> GrantActivated:
    return GrantActivated(
        producer="flow-engine",
        correlation_id=request,
        request_id=request,
        requester_id="ada",
        connector_id="c1",
        integration_id="pg",
        expires_at=expires_at,
    )


def created(request: str, deadline: datetime | None) -> RequestCreated:
    return RequestCreated(
        producer="flow-engine",
        request_id=request,
        requester_id="ada",
        integration_id="pg",
        resource="db/orders",
        permission="read",
        duration_seconds=60,
        flow_name="manual",
        automatic=deadline is None,
        approval_deadline=deadline,
    )


async def test_grant_ends_on_time(start_expiry: Any, lifecycle: Any, timers_topic: Any) -> None:
    request = new_request()
    async with start_expiry():
        due = at(2.5)
        await lifecycle.publish(activated(request, due))
        await timers_topic.wait_for(lambda: timers_topic.fired(request, "grant_end"), 10, "grant_end")
    [fired] = timers_topic.fired(request, "grant_end")
    assert fired.due_at == due
    lateness = (timers_topic.arrival_of(fired.event_id) - due).total_seconds()
    assert 0 <= lateness < 1.0, f"TimerFired arrived {lateness:.3f}s after due"


async def test_reminder_fires_before_the_end(start_expiry: Any, lifecycle: Any, timers_topic: Any) -> None:
    request = new_request()  # reminder lead is 2 s in the test settings
    async with start_expiry():
        end = at(3.0)
        await lifecycle.publish(activated(request, end))
        await timers_topic.wait_for(lambda: len(timers_topic.fired(request)) == 2, 10, "reminder + end")
    reminder, grant_end = timers_topic.fired(request)
    assert (reminder.kind, grant_end.kind) == ("expiry_reminder", "grant_end")
    assert reminder.due_at == end - timedelta(seconds=2)


async def test_extension_moves_the_end(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    request = new_request()
    async with start_expiry():
        await lifecycle.publish(activated(request, at(1.5)))
        new_end = at(3.5)
        await lifecycle.publish(GrantExtended(request_id=request, expires_at=new_end))
        [fired] = await timers_topic.wait_for(
            lambda: timers_topic.fired(request, "grant_end"), 10, "moved grant_end"
        )
        await timers_topic.settle(0.5)
    assert fired.due_at == new_end
    assert timers_topic.arrival_of(fired.event_id) >= new_end
    assert len(timers_topic.fired(request, "grant_end")) == 1
    ends = [r for r in await timer_table.rows(request) if r.kind == "grant_end"]
    assert [(r.state, r.due_at) for r in ends] == [("fired", new_end)]


async def test_early_revoke_cancels_the_end(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    request, control = new_request(), new_request()
    async with start_expiry():
        await lifecycle.publish(activated(request, at(1.5)), activated(control, at(2.0)))
        await timer_table.wait_for(bool, 10, request)  # else one batch folds schedule + cancel to nothing
        await lifecycle.publish(GrantRevoked(request_id=request, reason="requested"))
        # the control grant proves the loop ran past the cancelled due time
        await timers_topic.wait_for(lambda: timers_topic.fired(control), 10, "control grant_end")
        await timers_topic.settle(0.3)
    assert timers_topic.fired(request) == []
    assert {r.state for r in await timer_table.rows(request)} == {"cancelled"}


async def test_pending_request_times_out_and_approval_cancels(
    start_expiry: Any, lifecycle: Any, timers_topic: Any
) -> None:
    pending, approved = new_request(), new_request()
    async with start_expiry():
        deadline = at(1.5)
        await lifecycle.publish(created(pending, deadline), created(approved, at(1.5)))
        await lifecycle.publish(RequestApproved(request_id=approved, approver_ids=["bob"]))
        [fired] = await timers_topic.wait_for(lambda: timers_topic.fired(pending), 10, "approval_timeout")
        await timers_topic.settle(0.3)
    assert (fired.kind, fired.due_at) == ("approval_timeout", deadline)
    assert timers_topic.fired(approved) == []


async def test_extension_awaiting_approval_times_out_unless_denied(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    waiting, denied = new_request(), new_request()

    def asked(request: str, deadline: datetime) -> GrantExtensionRequested:
        return GrantExtensionRequested(
            request_id=request,
            requested_by="ada",
            extra_seconds=600,
            expires_at=at(60),
            approval_deadline=deadline,
        )

    async with start_expiry():
        deadline = at(1.5)
        await lifecycle.publish(activated(waiting, at(60)), activated(denied, at(60)))
        await lifecycle.publish(asked(waiting, deadline), asked(denied, at(1.5)))
        await timer_table.wait_for(lambda rows: any(r.kind == "approval_timeout" for r in rows), 10, denied)
        await lifecycle.publish(GrantExtensionDenied(request_id=denied, reason="no", denied_by="bob"))
        [fired] = await timers_topic.wait_for(lambda: timers_topic.fired(waiting), 10, "approval_timeout")
        await timers_topic.settle(0.3)
    assert (fired.kind, fired.due_at) == ("approval_timeout", deadline)
    assert timers_topic.fired(denied) == []
    assert {r.state for r in await timer_table.rows(denied) if r.kind == "approval_timeout"} == {"cancelled"}


async def test_duplicate_events_make_one_timer(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    request = new_request()
    event = activated(request, at(2.0))
    same_grant_again = activated(request, event.expires_at)  # a new event_id for the same grant
    async with start_expiry():
        await lifecycle.publish(event, event, same_grant_again, event)
        await timers_topic.wait_for(lambda: timers_topic.fired(request), 10, "grant_end")
        await timers_topic.settle(0.5)
    assert len(timers_topic.fired(request)) == 1
    assert [r.kind for r in await timer_table.rows(request)] == ["grant_end"]


async def test_revoking_replaces_end_with_confirmation_deadline(
    start_expiry: Any, lifecycle: Any, timer_table: Any
) -> None:
    request = new_request()
    async with start_expiry():
        await lifecycle.publish(activated(request, at(60)))
        await timer_table.wait_for(bool, 10, request)  # else one batch folds schedule + cancel to nothing
        await lifecycle.publish(
            GrantRevoking(
                request_id=request,
                connector_id="c1",
                command_id=str(uuid7()),
                attempt=1,
                reason="requested",
                confirm_by=at(60),
            )
        )
        rows = await timer_table.wait_for(
            lambda rows: any(r.kind == "revoke_confirmation" for r in rows), 10, request
        )
    states = {(r.kind, r.state) for r in rows}
    assert states == {
        ("grant_end", "cancelled"),
        ("expiry_reminder", "cancelled"),
        ("revoke_confirmation", "pending"),
    }


async def test_unparseable_lifecycle_input_is_dead_lettered_and_consumption_goes_on(
    start_expiry: Any, lifecycle: Any, timer_table: Any, settings: Any
) -> None:
    request = new_request()
    async with start_expiry():
        await lifecycle.publish_raw(b'{"type": "access.grant.activated", "request_id": 7}', key=b"bad")
        await lifecycle.publish_raw(b"\xff not json", key=b"worse")
        await lifecycle.publish(activated(request, at(3600)))
        rows = await timer_table.wait_for(bool, 20, request)
    assert {r.kind for r in rows} == {"grant_end", "expiry_reminder"}
    dead = await read_all(settings, settings.topic(LIFECYCLE.dlq), expected=2)
    reasons = sorted(DeadLetter.model_validate_json(v).reason for v in dead)
    assert len(reasons) == 2 and all(r.startswith("not a valid access.lifecycle.v1 event") for r in reasons)
    assert any("Invalid JSON" in r for r in reasons) and any("request_id" in r for r in reasons), reasons


async def read_all(settings: Any, topic: str, expected: int, timeout: float = 20) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(values) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            values += [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return values
