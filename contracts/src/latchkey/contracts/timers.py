"""Timers that expiry fires on `expiry.timers.v1`, keyed by the request id they belong to."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .envelope import Event, Identifier, UtcDatetime

TimerKind = Literal["grant_end", "approval_timeout", "expiry_reminder", "revoke_confirmation", "revoke_retry"]


class TimerFired(Event):
    """A timer is due. `attempt` counts revoke retries (1 for the first firing of other kinds)."""

    type: Literal["timer.fired"] = "timer.fired"
    timer_id: Identifier
    kind: TimerKind
    request_id: Identifier
    due_at: UtcDatetime
    attempt: int = Field(default=1, ge=1)


class RevokeOverdue(Event):
    """Revocation of `request_id` is still unconfirmed after `attempts` tries; retries go on at the cap."""

    type: Literal["timer.revoke_overdue"] = "timer.revoke_overdue"
    request_id: Identifier
    attempts: int = Field(ge=1)
    first_due_at: UtcDatetime


TimerEvent = Annotated[TimerFired | RevokeOverdue, Field(discriminator="type")]
