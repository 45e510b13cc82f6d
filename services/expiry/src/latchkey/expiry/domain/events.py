"""The events expiry publishes on `expiry.timers.v1`, built from its decisions."""

from __future__ import annotations

import uuid
from datetime import datetime

from latchkey.contracts import RevokeOverdue, TimerFired, TimerKind

from .timers import RaiseOverdue


def timer_fired(
    *,
    timer_id: uuid.UUID,
    kind: TimerKind,
    request_id: str,
    due_at: datetime,
    attempt: int,
    cause: uuid.UUID | None,
    producer: str,
) -> TimerFired:
    """TimerFired for one timer; caused by the lifecycle event that scheduled it."""
    return TimerFired(
        producer=producer,
        correlation_id=request_id,
        causation_id=cause,
        timer_id=str(timer_id),
        kind=kind,
        request_id=request_id,
        due_at=due_at,
        attempt=attempt,
    )


def revoke_overdue(alarm: RaiseOverdue, producer: str) -> RevokeOverdue:
    return RevokeOverdue(
        producer=producer,
        correlation_id=alarm.request_id,
        causation_id=alarm.cause,
        request_id=alarm.request_id,
        attempts=alarm.attempts,
        first_due_at=alarm.first_due_at,
    )
