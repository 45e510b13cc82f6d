"""Expiry's pure domain: timer decisions and the revoke retry policy (no I/O)."""

from .events import revoke_overdue, timer_fired
from .timers import (
    ALL_KINDS,
    CancelTimers,
    Decision,
    Plan,
    RaiseOverdue,
    RetryPolicy,
    Revocation,
    ScheduleTimer,
    TimerChanges,
    TimerState,
    concerns_expiry,
    plan_for_confirmation_deadline,
    plan_for_event,
)

__all__ = [
    "ALL_KINDS",
    "CancelTimers",
    "Decision",
    "Plan",
    "RaiseOverdue",
    "RetryPolicy",
    "Revocation",
    "ScheduleTimer",
    "TimerChanges",
    "TimerState",
    "concerns_expiry",
    "plan_for_confirmation_deadline",
    "plan_for_event",
    "revoke_overdue",
    "timer_fired",
]
