"""The record a consumer writes to `<topic>.dlq` for input it cannot parse, verify or accept."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .envelope import Event


class DeadLetter(Event):
    """The original message, byte for byte (base64), with where it came from and why it was refused."""

    type: Literal["dlq.record"] = "dlq.record"
    source_topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="Header values as base64")
    consumer: str = Field(description="Consumer group that refused it")
    error_type: str = Field(max_length=128)
    reason: str = Field(max_length=4_000)
