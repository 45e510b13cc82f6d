"""The pure decisions: no Kafka, no PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from latchkey.contracts import (
    GrantActivated,
    GrantExtended,
    GrantExtensionDenied,
    GrantExtensionRequested,
    GrantRevoked,
    GrantRevokeFailed,
    GrantRevoking,
    RequestCreated,
    ReviewRecorded,
    uuid7,
)
from latchkey.expiry.domain import (
    ALL_KINDS,
    CancelTimers,
    RaiseOverdue,
    RetryPolicy,
    Revocation,
    ScheduleTimer,
    TimerChanges,
    plan_for_confirmation_deadline,
    plan_for_event,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    base_delay=timedelta(seconds=5),
    max_delay=timedelta(seconds=300),
    overdue_after_attempts=5,
    reminder_lead=timedelta(minutes=10),
)


def top(_: float = 0) -> float:
    return 0.999999  # the largest jitter draw


def schedules(decisions: list[object]) -> dict[str, ScheduleTimer]:
    return {d.kind: d for d in decisions if isinstance(d, ScheduleTimer)}


def revoking(attempt: int, confirm_in: float = 60) -> GrantRevoking:
    return GrantRevoking(
        request_id="r1",
        connector_id="c1",
        command_id=str(uuid7()),
        attempt=attempt,
        reason="expired",
        confirm_by=NOW + timedelta(seconds=confirm_in),
    )


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    assert POLICY.retry_delay(1, lambda: 0.0) == timedelta(0)
    ceilings = [POLICY.retry_delay(n, top).total_seconds() for n in range(1, 5)]
    assert [round(c) for c in ceilings] == [5, 10, 20, 40]
    capped = RetryPolicy(timedelta(seconds=5), timedelta(seconds=30), 10, timedelta(0))
    assert capped.retry_delay(9, top) <= timedelta(seconds=30)
    assert capped.retry_delay(9, lambda: 0.5) == timedelta(seconds=15)
    # once overdue: exactly the cap, no jitter
    assert POLICY.retry_delay(5, lambda: 0.0) == POLICY.retry_delay(8, top) == timedelta(seconds=300)


def test_activation_schedules_end_and_reminder() -> None:
    end = NOW + timedelta(hours=1)
    event = GrantActivated(
        request_id="r1", requester_id="u", connector_id="c", integration_id="i", expires_at=end
    )
    plan = plan_for_event(event, None, NOW, POLICY, top)
    timers = schedules(plan.decisions)
    assert timers["grant_end"].due_at == end
    assert timers["expiry_reminder"].due_at == end - timedelta(minutes=10)
    assert all(s.cause == event.event_id for s in timers.values())


def test_short_grant_gets_no_reminder_and_extension_into_the_lead_drops_it() -> None:
    end = NOW + timedelta(minutes=5)
    plan = plan_for_event(GrantExtended(request_id="r1", expires_at=end), None, NOW, POLICY, top)
    assert set(schedules(plan.decisions)) == {"grant_end"}
    assert CancelTimers("r1", frozenset({"expiry_reminder"}), plan.decisions[0].cause) in plan.decisions


def test_extension_of_a_grant_being_revoked_changes_nothing() -> None:
    revocation = Revocation("r1", NOW, attempts=1)
    plan = plan_for_event(
        GrantExtended(request_id="r1", expires_at=NOW + timedelta(hours=1)), revocation, NOW, POLICY, top
    )
    assert plan.decisions == []


def test_extension_awaiting_approval_times_out_unless_decided() -> None:
    deadline = NOW + timedelta(minutes=30)
    asked = GrantExtensionRequested(
        request_id="r1",
        requested_by="u",
        extra_seconds=600,
        expires_at=NOW + timedelta(hours=1),
        approval_deadline=deadline,
    )
    plan = plan_for_event(asked, None, NOW, POLICY, top)
    assert plan.decisions == [ScheduleTimer("r1", "approval_timeout", deadline, cause=asked.event_id)]
    denied = GrantExtensionDenied(request_id="r1", reason="no")
    assert plan_for_event(denied, None, NOW, POLICY, top).decisions == [
        CancelTimers("r1", frozenset({"approval_timeout"}), denied.event_id)
    ]
    extended = GrantExtended(request_id="r1", expires_at=NOW + timedelta(hours=2), approver_ids=["bob"])
    cancelled = [
        d for d in plan_for_event(extended, None, NOW, POLICY, top).decisions if isinstance(d, CancelTimers)
    ]
    assert any("approval_timeout" in d.kinds for d in cancelled)
    assert plan_for_event(asked, Revocation("r1", NOW, 1), NOW, POLICY, top).decisions == []


def test_automatic_requests_have_no_approval_timeout() -> None:
    event = RequestCreated(
        request_id="r1",
        requester_id="u",
        integration_id="i",
        resource="r",
        permission="p",
        duration_seconds=60,
        flow_name="auto",
        automatic=True,
    )
    assert plan_for_event(event, None, NOW, POLICY, top).decisions == []


def test_revoking_opens_a_revocation_and_a_confirmation_deadline() -> None:
    event = revoking(1)
    plan = plan_for_event(event, None, NOW, POLICY, top)
    assert plan.revocation == Revocation("r1", event.occurred_at, attempts=1)
    assert schedules(plan.decisions)["revoke_confirmation"].due_at == event.confirm_by
    cancelled = next(d for d in plan.decisions if isinstance(d, CancelTimers))
    assert cancelled.kinds == {"grant_end", "expiry_reminder", "revoke_retry"}


def test_failures_alarm_once_after_n_attempts() -> None:
    revocation: Revocation | None = Revocation("r1", NOW, attempts=1)
    alarms = []
    for attempt in range(1, 9):
        failed = GrantRevokeFailed(request_id="r1", attempt=attempt, reason="refused")
        plan = plan_for_event(failed, revocation, NOW, POLICY, top)
        revocation = plan.revocation
        alarms += [d for d in plan.decisions if isinstance(d, RaiseOverdue)]
        retry = schedules(plan.decisions)["revoke_retry"]
        assert retry.attempt == attempt + 1
        expected = 300 if attempt >= 5 else min(300, 5 * 2 ** (attempt - 1))
        assert (retry.due_at - NOW).total_seconds() <= expected
    assert alarms == [RaiseOverdue("r1", 5, NOW, alarms[0].cause)]


def test_stale_failure_of_an_older_attempt_is_ignored() -> None:
    revocation = Revocation("r1", NOW, attempts=3)
    failed = GrantRevokeFailed(request_id="r1", attempt=2, reason="late")
    assert plan_for_event(failed, revocation, NOW, POLICY, top).decisions == []


def test_confirmation_deadline_retries_unless_revoked_or_superseded() -> None:
    open_ = Revocation("r1", NOW, attempts=2)
    plan = plan_for_confirmation_deadline("r1", 2, open_, NOW, POLICY, top)
    assert schedules(plan.decisions)["revoke_retry"].attempt == 3
    assert plan_for_confirmation_deadline("r1", 1, open_, NOW, POLICY, top).decisions == []
    closed = Revocation("r1", NOW, attempts=2, closed=True)
    assert plan_for_confirmation_deadline("r1", 2, closed, NOW, POLICY, top).decisions == []


def test_revoked_cancels_everything_and_closes() -> None:
    plan = plan_for_event(
        GrantRevoked(request_id="r1", reason="expired"), Revocation("r1", NOW, 2), NOW, POLICY, top
    )
    assert plan.decisions[0].kinds == ALL_KINDS
    assert plan.revocation is not None and plan.revocation.closed


def test_events_without_timers_change_nothing() -> None:
    event = ReviewRecorded(request_id="r1", reviewer_id="bob", step=0, step_complete=True)
    assert plan_for_event(event, None, NOW, POLICY, top).decisions == []


def test_changes_keep_the_last_word_per_timer() -> None:
    changes = TimerChanges()
    changes.add([ScheduleTimer("r1", "grant_end", NOW)])
    changes.add([ScheduleTimer("r1", "grant_end", NOW + timedelta(hours=1))])
    changes.add([CancelTimers("r2", frozenset({"grant_end"}))])
    changes.add([ScheduleTimer("r2", "grant_end", NOW)])
    changes.add([ScheduleTimer("r3", "grant_end", NOW), CancelTimers("r3", ALL_KINDS)])
    assert {k: s.due_at for k, s in changes.schedules.items()} == {
        ("r1", "grant_end"): NOW + timedelta(hours=1),
        ("r2", "grant_end"): NOW,
    }
    assert ("r3", "grant_end") in changes.cancels and ("r2", "grant_end") not in changes.cancels
    assert changes.earliest_due == NOW
