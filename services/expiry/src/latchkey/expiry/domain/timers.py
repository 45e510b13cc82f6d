"""What expiry decides, with no I/O: which timers a lifecycle event schedules, moves or cancels, when a
failed revocation is retried, and when operators are alarmed.

The decisions are plain values (`ScheduleTimer`, `CancelTimers`, `RaiseOverdue`); `TimerChanges`
folds a batch of them into the last word per (request, kind), which the store then writes in bulk.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, get_args

from latchkey.contracts import (
    Event,
    GrantActivated,
    GrantExtended,
    GrantExtensionDenied,
    GrantExtensionRequested,
    GrantFailed,
    GrantRevoked,
    GrantRevokeFailed,
    GrantRevoking,
    RequestApproved,
    RequestCancelled,
    RequestCreated,
    RequestDenied,
    RequestExpired,
    TimerKind,
)

ALL_KINDS: frozenset[TimerKind] = frozenset(get_args(TimerKind))
TimerState = Literal["pending", "fired", "cancelled"]

# A revoke attempt under way replaces the end (it has come) and any retry (this is the retry).
_SUPERSEDED_BY_REVOKING: frozenset[TimerKind] = frozenset({"grant_end", "expiry_reminder", "revoke_retry"})
# Events after which nothing of the request may fire again.
_FINAL = (RequestDenied, RequestCancelled, RequestExpired, GrantRevoked, GrantFailed)

Random = Callable[[], float]
"""A source of uniform floats in [0, 1): `random.random` in service, fixed in tests."""


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff (capped) between revoke attempts, and when to alarm."""

    base_delay: timedelta
    max_delay: timedelta
    overdue_after_attempts: int
    reminder_lead: timedelta

    def retry_delay(self, failed_attempt: int, random: Random) -> timedelta:
        """Wait before the attempt after `failed_attempt` (1-based).

        Up to the alarm: uniform in [0, min(cap, base·2^(n-1))] so that many grants failing
        together (a target outage) do not retry in lockstep. Once overdue: exactly the cap.
        """
        if failed_attempt >= self.overdue_after_attempts:
            return self.max_delay
        doubling: int = 2 ** (failed_attempt - 1)
        ceiling = min(self.max_delay, self.base_delay * doubling)
        return ceiling * random()


@dataclass(frozen=True)
class Revocation:
    """Progress of revoking one grant: created by the first GrantRevoking, closed by GrantRevoked."""

    request_id: str
    started_at: datetime
    attempts: int
    overdue_alarmed: bool = False
    closed: bool = False


@dataclass(frozen=True)
class ScheduleTimer:
    """Make (request_id, kind) pending at `due_at`; an existing pending one is moved, never doubled."""

    request_id: str
    kind: TimerKind
    due_at: datetime
    attempt: int = 1
    cause: uuid.UUID | None = None


@dataclass(frozen=True)
class CancelTimers:
    """Cancel the pending timers of `kinds` for the request."""

    request_id: str
    kinds: frozenset[TimerKind]
    cause: uuid.UUID | None = None


@dataclass(frozen=True)
class RaiseOverdue:
    """Tell operators (RevokeOverdue) that revocation still is not confirmed; raised once per grant."""

    request_id: str
    attempts: int
    first_due_at: datetime
    cause: uuid.UUID | None = None


Decision = ScheduleTimer | CancelTimers | RaiseOverdue


@dataclass(frozen=True)
class Plan:
    """The decisions one event (or one fired deadline) leads to, and the revocation state after it."""

    decisions: list[Decision] = field(default_factory=list)
    revocation: Revocation | None = None


_HANDLED = (
    RequestCreated,
    RequestApproved,
    GrantExtensionDenied,
    GrantExtensionRequested,
    GrantActivated,
    GrantExtended,
    GrantRevoking,
    GrantRevokeFailed,
    *_FINAL,
)


def concerns_expiry(event: Event) -> bool:
    """Whether `event` can change any timer or revocation: when not, `plan_for_event` returns an empty
    plan whatever the state, so the service skips it without a transaction (most lifecycle events of
    an automatic grant: its creation and approval, the grant request)."""
    if isinstance(event, RequestCreated):
        return not event.automatic and event.approval_deadline is not None
    if isinstance(event, RequestApproved):
        return not event.automatic  # an automatic request never had an approval deadline to cancel
    return isinstance(event, _HANDLED)


def plan_for_event(
    event: Event, revocation: Revocation | None, now: datetime, policy: RetryPolicy, random: Random
) -> Plan:
    """The timers a lifecycle event schedules, moves or cancels (section 6 of the choreography)."""
    cause = event.event_id
    if isinstance(event, RequestCreated):
        if event.automatic or event.approval_deadline is None:
            return Plan([], revocation)
        return Plan(
            [ScheduleTimer(event.request_id, "approval_timeout", event.approval_deadline, cause=cause)],
            revocation,
        )
    if isinstance(event, RequestApproved | GrantExtensionDenied):
        return Plan([CancelTimers(event.request_id, frozenset({"approval_timeout"}), cause)], revocation)
    if isinstance(event, GrantExtensionRequested):
        if revocation is not None:
            return Plan([], revocation)  # the grant is ending: nothing is left to approve
        # The extension's approval deadline reuses approval_timeout: the request's own was cancelled
        # when it was approved, and GrantExtended / GrantExtensionDenied cancel this one.
        deadline = ScheduleTimer(event.request_id, "approval_timeout", event.approval_deadline, cause=cause)
        return Plan([deadline], revocation)
    if isinstance(event, GrantActivated | GrantExtended):
        if revocation is not None:
            return Plan([], revocation)  # already being revoked: the end has passed, nothing to move
        return Plan(_grant_end(event.request_id, event.expires_at, now, policy, cause), revocation)
    if isinstance(event, GrantRevoking):
        return _revoking(event, revocation)
    if isinstance(event, GrantRevokeFailed):
        return _revoke_failed(event, revocation, now, policy, random)
    if isinstance(event, _FINAL):
        request_id: str = event.request_id
        closed = replace(revocation, closed=True) if revocation is not None else None
        return Plan([CancelTimers(request_id, ALL_KINDS, cause)], closed)
    return Plan([], revocation)


def plan_for_confirmation_deadline(
    request_id: str,
    attempt: int,
    revocation: Revocation | None,
    now: datetime,
    policy: RetryPolicy,
    random: Random,
    cause: uuid.UUID | None = None,
) -> Plan:
    """A revoke_confirmation timer of `attempt` fired: the connector did not confirm in time, so retry."""
    if revocation is None or revocation.closed or attempt < revocation.attempts:
        return Plan([], revocation)  # revoked meanwhile, or a newer attempt is already under way
    return _retry_after(request_id, attempt, revocation, now, policy, random, cause)


def _grant_end(
    request_id: str, expires_at: datetime, now: datetime, policy: RetryPolicy, cause: uuid.UUID
) -> list[Decision]:
    decisions: list[Decision] = [
        CancelTimers(request_id, frozenset({"approval_timeout"}), cause),
        ScheduleTimer(request_id, "grant_end", expires_at, cause=cause),
    ]
    remind_at = expires_at - policy.reminder_lead
    if policy.reminder_lead > timedelta(0) and remind_at > now:
        decisions.append(ScheduleTimer(request_id, "expiry_reminder", remind_at, cause=cause))
    else:  # too late to remind (or an extension moved the end closer): drop an old reminder
        decisions.append(CancelTimers(request_id, frozenset({"expiry_reminder"}), cause))
    return decisions


def _revoking(event: GrantRevoking, revocation: Revocation | None) -> Plan:
    if revocation is not None and revocation.closed:
        return Plan([], revocation)
    if revocation is None:
        revocation = Revocation(event.request_id, started_at=event.occurred_at, attempts=event.attempt)
    elif event.attempt < revocation.attempts:
        return Plan([], revocation)  # a stale attempt redelivered after a newer one
    else:
        revocation = replace(revocation, attempts=event.attempt)
    decisions: list[Decision] = [
        CancelTimers(event.request_id, _SUPERSEDED_BY_REVOKING, event.event_id),
        ScheduleTimer(
            event.request_id,
            "revoke_confirmation",
            event.confirm_by,
            attempt=event.attempt,
            cause=event.event_id,
        ),
    ]
    return Plan(decisions, revocation)


def _revoke_failed(
    event: GrantRevokeFailed,
    revocation: Revocation | None,
    now: datetime,
    policy: RetryPolicy,
    random: Random,
) -> Plan:
    if revocation is None:
        # Expiry never saw the GrantRevoking (e.g. it started from an empty topic): adopt the failure.
        revocation = Revocation(event.request_id, started_at=event.occurred_at, attempts=event.attempt)
    if revocation.closed or event.attempt < revocation.attempts:
        return Plan([], revocation)
    return _retry_after(event.request_id, event.attempt, revocation, now, policy, random, event.event_id)


def _retry_after(
    request_id: str,
    failed_attempt: int,
    revocation: Revocation,
    now: datetime,
    policy: RetryPolicy,
    random: Random,
    cause: uuid.UUID | None,
) -> Plan:
    next_attempt = failed_attempt + 1
    decisions: list[Decision] = [
        CancelTimers(request_id, frozenset({"revoke_confirmation"}), cause),
        ScheduleTimer(
            request_id,
            "revoke_retry",
            now + policy.retry_delay(failed_attempt, random),
            attempt=next_attempt,
            cause=cause,
        ),
    ]
    revocation = replace(revocation, attempts=max(revocation.attempts, failed_attempt))
    if failed_attempt >= policy.overdue_after_attempts and not revocation.overdue_alarmed:
        decisions.append(RaiseOverdue(request_id, failed_attempt, revocation.started_at, cause))
        revocation = replace(revocation, overdue_alarmed=True)
    return Plan(decisions, revocation)


@dataclass
class TimerChanges:
    """The net effect of many decisions: the last word per (request, kind), plus the alarms to raise.

    Folding keeps a batch of events to two bulk statements, and means a timer scheduled and then
    cancelled within one batch is never written at all.
    """

    schedules: dict[tuple[str, TimerKind], ScheduleTimer] = field(default_factory=dict)
    cancels: dict[tuple[str, TimerKind], CancelTimers] = field(default_factory=dict)
    alarms: list[RaiseOverdue] = field(default_factory=list)

    def add(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, ScheduleTimer):
                key = (decision.request_id, decision.kind)
                self.cancels.pop(key, None)
                self.schedules[key] = decision
            elif isinstance(decision, CancelTimers):
                for kind in decision.kinds:
                    key = (decision.request_id, kind)
                    self.schedules.pop(key, None)
                    self.cancels[key] = decision
            else:
                self.alarms.append(decision)

    @property
    def earliest_due(self) -> datetime | None:
        return min((s.due_at for s in self.schedules.values()), default=None)

    def __bool__(self) -> bool:
        return bool(self.schedules or self.cancels or self.alarms)
