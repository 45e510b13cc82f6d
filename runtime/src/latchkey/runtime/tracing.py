"""Trace context across Kafka hops, so one access request is one trace from request to revoke.

A consumer remembers the `traceparent` of every event in the batch it is handling; an event emitted
with `causation_id` pointing at one of them continues that trace (a new span id, same trace id). An
event with no traced cause (a timer that fires hours later, a request from a client without tracing)
gets a trace id derived from its `correlation_id`, the request id, so every hop of one request still
shares one trace id.
"""

from __future__ import annotations

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


def _traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


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


def trace_headers(event: Event) -> dict[str, str]:
    """Kafka headers carrying the trace `event` belongs to (see the module docstring for the rule)."""
    if trace.get_current_span().get_span_context().is_valid:
        headers: dict[str, str] = {}
        inject(headers)  # an active span (e.g. the connector's per-command span) is the most precise
        return headers
    traces = _incoming.get() or {}
    trace_id = traces.get(event.causation_id) if event.causation_id is not None else None
    if trace_id is None and event.correlation_id:
        trace_id = trace_id_for(event.correlation_id)
    return {"traceparent": _traceparent(trace_id)} if trace_id else {}
