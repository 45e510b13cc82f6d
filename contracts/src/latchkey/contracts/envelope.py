"""The envelope every Latchkey event carries, whatever its topic."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): sorts by creation time, so ids double as a clock."""
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b (62 bits)
    return uuid.UUID(int=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone (RFC 3339, UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware timestamp, normalised to UTC."""


class Event(BaseModel):
    """Base of every event: immutable, versioned, tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    event_id: uuid.UUID = Field(default_factory=uuid7, description="Unique per event; consumers dedupe on it")
    type: str = Field(description="Dotted event name; the discriminator of the topic's union")
    schema_version: int = Field(default=1, ge=1)
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    producer: str = Field(default="unknown", min_length=1, max_length=64)
    correlation_id: str | None = Field(
        default=None, max_length=256, description="The access request id (or sync run id) this belongs to"
    )
    causation_id: uuid.UUID | None = Field(default=None, description="event_id of the event that caused it")

    def caused_by(self, cause: Event) -> dict[str, Any]:
        """Envelope fields for an event caused by this one's `cause` (same correlation, causation link)."""
        return {"correlation_id": cause.correlation_id, "causation_id": cause.event_id}


Identifier = Annotated[str, Field(min_length=1, max_length=256)]
"""An opaque id from another system (IdP id, request id, integration id)."""
