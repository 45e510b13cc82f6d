"""Several replicas share the firing without firing anything twice; after downtime every overdue timer
fires at once, oldest first."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from latchkey.contracts import GrantActivated, uuid7

pytestmark = pytest.mark.infra


def activated(request: str, expires_at: datetime) -> GrantActivated:
    return GrantActivated(
        request_id=request,
        requester_id="ada",
        connector_id="c1",
        integration_id="pg",
        expires_at=expires_at,
    )


async def test_two_replicas_fire_each_timer_exactly_once(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    count = 600
    async with (
        start_expiry("replica-a", fire_batch_size=20) as a,
        start_expiry("replica-b", fire_batch_size=20) as b,
    ):
        start = datetime.now(UTC) + timedelta(seconds=2)
        grants = [activated(f"req-{uuid7()}", start + timedelta(milliseconds=2 * i)) for i in range(count)]
        await lifecycle.publish(*grants)
        await timers_topic.wait_for(
            lambda: len(timers_topic.fired(kind="grant_end")) >= count, 30, f"{count} grant ends"
        )
        await timers_topic.settle(1.0)
    per_timer = Counter(e.timer_id for e in timers_topic.fired(kind="grant_end"))
    assert len(per_timer) == count
    assert set(per_timer.values()) == {1}, [t for t, n in per_timer.items() if n > 1]
    rows = [r for r in await timer_table.rows() if r.kind == "grant_end"]
    assert len(rows) == count and {r.state for r in rows} == {"fired"}
    assert a.firing.fired > 0 and b.firing.fired > 0, (a.firing.fired, b.firing.fired)
    # reminders (lead 2 s) fired too: every timer fired by exactly one of the two
    assert a.firing.fired + b.firing.fired == len(timers_topic.fired())


async def test_after_downtime_overdue_timers_fire_at_once_oldest_first(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    count = 60
    async with start_expiry(fire_batch_size=7):
        first_due = datetime.now(UTC) + timedelta(seconds=3)
        # published in reverse so that insertion order is not due order
        grants = [
            activated(f"req-{uuid7()}", first_due + timedelta(milliseconds=10 * i)) for i in range(count)
        ]
        await lifecycle.publish(*reversed(grants))
        await timer_table.wait_for(lambda rows: sum(r.kind == "grant_end" for r in rows) == count, 20)
    # expiry is down while every timer comes due
    last_due = grants[-1].expires_at
    await asyncio.sleep(max(0.0, (last_due - datetime.now(UTC)).total_seconds()) + 1.0)
    assert timers_topic.fired(kind="grant_end") == []

    restarted = time.monotonic()
    async with start_expiry(fire_batch_size=7):
        await timers_topic.wait_for(
            lambda: len(timers_topic.fired(kind="grant_end")) == count, 20, "all ends"
        )
        caught_up = time.monotonic() - restarted
    assert caught_up < 15  # service start + probe + firing; firing itself is immediate
    # in the order expiry made them (each TimerFired is stamped when built, batch after batch)
    emitted = sorted(timers_topic.fired(kind="grant_end"), key=lambda e: e.occurred_at)
    dues = [e.due_at for e in emitted]
    assert dues == sorted(dues) and len(dues) == count
    ends = [r for r in await timer_table.rows() if r.kind == "grant_end"]
    assert len(ends) == count and {r.state for r in ends} == {"fired"}
