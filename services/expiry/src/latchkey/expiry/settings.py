"""Expiry's settings: the shared `LATCHKEY_*` ones plus the retry policy and the firing loop's knobs."""

from __future__ import annotations

from pydantic import Field

from latchkey.runtime import ServiceSettings


class ExpirySettings(ServiceSettings):
    service_name: str = "expiry"
    health_port: int = Field(default=8084, ge=0, le=65535)

    retry_base_delay_seconds: float = Field(
        default=5.0, gt=0, description="Backoff before revoke attempt 2; doubles per failed attempt"
    )
    retry_max_delay_seconds: float = Field(
        default=300.0, gt=0, description="Cap of the backoff; overdue revocations retry at this interval"
    )
    overdue_after_attempts: int = Field(
        default=5, ge=1, description="Failed revoke attempts before RevokeOverdue alarms operators (once)"
    )
    reminder_lead_seconds: float = Field(
        default=600.0,
        ge=0,
        description="Lead of the expiry_reminder before a grant ends; 0: none",
    )
    lifecycle_linger_ms: int = Field(
        default=50,
        ge=0,
        le=1000,
        description="Longest time the broker holds a fetch of lifecycle events to fill a batch (64 kB),"
        " while they come (idle: long poll); 0: each event as soon as it is there",
    )
    fire_batch_size: int = Field(default=500, ge=1, description="Due timers claimed per transaction")
    fire_coalesce_seconds: float = Field(
        default=0.025,
        ge=0,
        le=1,
        description="While timers keep coming due, wait this long after a batch so the next fires together"
        " (bounds the extra lateness; a lone timer fires on time)",
    )
    idle_recheck_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest sleep of the firing loop: a backstop should a NOTIFY be lost, not a poll",
    )
