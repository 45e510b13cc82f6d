"""Trace context across Kafka hops, so one access request is one trace from request to revoke.

A consumer remembers the `traceparent` of every event in the batch it is handling; an event emitted
with `causation_id` pointing at one of them continues that trace (a new span id, same trace id). An
event with no traced cause (a timer that fires hours later, a request from a client without tracing)
gets a trace id derived from its `correlation_id`, the request id, so every hop of one request still
shares one trace id. Only an event with neither falls back to the active span's context.

A review is another person's action: if their frontend starts a trace, the events the review causes
continue that trace (linked to the request by `correlation_id`), not the requester's.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.propagate import inject

from latchkey.contracts import Event

_incoming: ContextVar[dict[uuid.UUID, str] | None] = ContextVar("latchkey_incoming_traces", default=None)
_continued: ContextVar[str | None] = ContextVar("latchkey_continued_trace", default=None)


def _parse(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent (`00-<trace>-<span>-<flags>`), or None if malformed."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1]


def traceparent(trace_id: str) -> str:
    """A W3C traceparent in trace `trace_id` (a fresh span id)."""
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


@functools.lru_cache(maxsize=4096)  # a request's events are emitted together: hash its id once
def trace_id_for(correlation_id: str) -> str:
    """The trace id of a request that arrived without one: stable, so every hop agrees on it."""
    return hashlib.sha256(f"latchkey-trace:{correlation_id}".encode()).hexdigest()[:32]


@contextmanager
def incoming(pairs: Iterable[tuple[uuid.UUID, str | None]]) -> Iterator[None]:
    """While handling a batch: which trace each consumed event (by event_id) belongs to."""
    traces = {event_id: trace_id for event_id, header in pairs if (trace_id := _parse(header)) is not None}
    token = _incoming.set(traces)
    try:
        yield
    finally:
        _incoming.reset(token)


def trace_of(event_id: uuid.UUID | None) -> str | None:
    """The trace id of an event consumed in the current batch, to store for later (e.g. a timer)."""
    return (_incoming.get() or {}).get(event_id) if event_id is not None else None


@contextmanager
def continuing(trace_id: str | None) -> Iterator[None]:
    """Events emitted in this block continue the stored trace `trace_id` (when there is one)."""
    token = _continued.set(trace_id)
    try:
        yield
    finally:
        _continued.reset(token)


def in_span() -> bool:
    """Whether an OpenTelemetry span is active (then its context is the most precise to propagate)."""
    return bool(trace.get_current_span().get_span_context().is_valid)


def cause_headers(event: Event) -> dict[str, str] | None:
    """The trace of the event's cause (consumed in this batch, or restored with `continuing`), if known.

    It wins over an ambient span: a consumer's span covers a whole batch of unrelated requests."""
    trace_id = _continued.get() or trace_of(event.causation_id)
    return {"traceparent": traceparent(trace_id)} if trace_id else None


def derived_headers(event: Event) -> dict[str, str]:
    """No traced cause: the trace derived from the request id (see `trace_id_for`), if it has one.

    It wins over an ambient span too, so every untraced hop of one request lands in one trace."""
    return {"traceparent": traceparent(trace_id_for(event.correlation_id))} if event.correlation_id else {}


def trace_headers(event: Event) -> dict[str, str]:
    """Kafka headers carrying the trace `event` belongs to (see the module docstring for the rule)."""
    found = cause_headers(event) or derived_headers(event)
    if found or not in_span():
        return found
    headers: dict[str, str] = {}
    inject(headers)
    return headers
