"""Revocation is retried with capped, jittered backoff until the connector confirms, and operators
are alarmed (once) when it keeps failing. Test settings: base 0.2 s, cap 0.8 s, overdue after 3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from latchkey.contracts import GrantRevoked, GrantRevokeFailed, GrantRevoking, uuid7

pytestmark = pytest.mark.infra


def at(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def revoking(request: str, attempt: int, confirm_in: float) -> GrantRevoking:
    return GrantRevoking(
        producer="flow-engine",
        request_id=request,
        connector_id="c1",
        command_id=str(uuid7()),
        attempt=attempt,
        reason="expired" if attempt == 1 else "retry",
        confirm_by=at(confirm_in),
    )


async def fail_every_attempt_until(
    lifecycle: Any, timers_topic: Any, request: str, attempts: int, timeout: float = 30
) -> None:
    """Act as flow-engine + a failing connector: each revoke_retry sends attempt n, which fails."""
    answered: set[int] = set()
    while len(answered) < attempts - 1:
        retries = await timers_topic.wait_for(
            lambda: [e for e in timers_topic.fired(request, "revoke_retry") if e.attempt not in answered],
            timeout,
            f"revoke_retry after {sorted(answered)}",
        )
        for retry in retries:
            answered.add(retry.attempt)
            await lifecycle.publish(
                revoking(request, retry.attempt, confirm_in=30),
                GrantRevokeFailed(request_id=request, attempt=retry.attempt, reason="target unreachable"),
            )


async def test_revoke_is_retried_until_connector_confirms(
    start_expiry: Any, lifecycle: Any, timers_topic: Any, timer_table: Any
) -> None:
    request = f"req-{uuid7()}"
    async with start_expiry():
        # attempt 1 is never answered: its confirmation deadline passes → retry 2
        await lifecycle.publish(revoking(request, 1, confirm_in=0.5))
        retry2 = await timers_topic.wait_for(
            lambda: timers_topic.fired(request, "revoke_retry"), 10, "retry after the deadline"
        )
        # attempt 2 fails explicitly → retry 3
        await lifecycle.publish(
            revoking(request, 2, confirm_in=30),
            GrantRevokeFailed(request_id=request, attempt=2, reason="connection refused"),
        )
        await timers_topic.wait_for(
            lambda: [e for e in timers_topic.fired(request, "revoke_retry") if e.attempt == 3], 10, "retry 3"
        )
        # attempt 3 is confirmed
        await lifecycle.publish(revoking(request, 3, confirm_in=0.5))
        await lifecycle.publish(GrantRevoked(request_id=request, reason="expired"))
        await timers_topic.settle(1.5)  # past attempt 3's confirmation deadline
    fired = timers_topic.fired(request)
    assert [(e.kind, e.attempt) for e in fired] == [
        ("revoke_confirmation", 1),
        ("revoke_retry", 2),
        ("revoke_retry", 3),
    ]
    confirmation = fired[0]
    # full jitter: attempt 2 waits at most base (0.2 s) after attempt 1's deadline
    assert retry2[0].due_at - confirmation.due_at <= timedelta(seconds=0.2 + 0.3)
    assert retry2[0].causation_id == confirmation.event_id  # audit trail: the deadline caused the retry
    assert not [e for e in timers_topic.events if e.type == "timer.revoke_overdue"]
    assert {r.state for r in await timer_table.rows(request)} <= {"fired", "cancelled"}


async def test_overdue_alarm_after_n_failures_and_retries_go_on_at_the_cap(
    start_expiry: Any, lifecycle: Any, timers_topic: Any
) -> None:
    request = f"req-{uuid7()}"
    async with start_expiry():
        first = revoking(request, 1, confirm_in=30)
        await lifecycle.publish(
            first, GrantRevokeFailed(request_id=request, attempt=1, reason="target unreachable")
        )
        await fail_every_attempt_until(lifecycle, timers_topic, request, attempts=5)
        await timers_topic.wait_for(
            lambda: [e for e in timers_topic.fired(request, "revoke_retry") if e.attempt == 6], 10, "retry 6"
        )
        await lifecycle.publish(GrantRevoked(request_id=request, reason="expired"))
        await timers_topic.settle(1.5)
    alarms = [e for e in timers_topic.events if e.type == "timer.revoke_overdue"]
    assert [(a.request_id, a.attempts) for a in alarms] == [(request, 3)]
    assert alarms[0].first_due_at == first.occurred_at
    retries = {e.attempt: e for e in timers_topic.fired(request, "revoke_retry")}
    assert sorted(retries) == [2, 3, 4, 5, 6]
    # after the alarm (attempt 3 failed) every retry waits exactly the cap
    for attempt in (4, 5, 6):
        failed_at = retries[attempt - 1].due_at
        gap = (retries[attempt].due_at - failed_at).total_seconds()
        assert 0.8 <= gap < 0.8 + 0.5, f"retry {attempt} came {gap:.2f}s after retry {attempt - 1}"
