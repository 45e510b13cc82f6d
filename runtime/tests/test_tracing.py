"""The trace an emitted event joins: its cause's, else one derived from the request id."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from latchkey.contracts import RequestApproved, RequestCancelled, uuid7
from latchkey.runtime import tracing

CAUSE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def trace_of_headers(headers: dict[str, str]) -> str:
    return headers["traceparent"].split("-")[1]


def test_event_continues_the_trace_of_the_event_that_caused_it() -> None:
    cause_id = uuid7()
    event = RequestApproved(request_id="r1", correlation_id="r1", causation_id=cause_id)
    with tracing.incoming([(cause_id, f"00-{CAUSE_TRACE}-00f067aa0ba902b7-01")]):
        headers = tracing.trace_headers(event)
    assert trace_of_headers(headers) == CAUSE_TRACE
    assert headers["traceparent"].split("-")[2] != "00f067aa0ba902b7", "a new span in the same trace"


def test_cause_wins_over_an_ambient_batch_span() -> None:
    cause_id = uuid7()
    event = RequestApproved(request_id="r1", correlation_id="r1", causation_id=cause_id)
    tracer = TracerProvider().get_tracer("test")
    with (
        tracer.start_as_current_span("batch"),
        tracing.incoming([(cause_id, f"00-{CAUSE_TRACE}-00f067aa0ba902b7-01")]),
    ):
        assert trace_of_headers(tracing.trace_headers(event)) == CAUSE_TRACE


def test_untraced_hops_of_one_request_share_a_trace_derived_from_the_request_id() -> None:
    first = RequestApproved(request_id="r7", correlation_id="r7", causation_id=uuid7())
    later = RequestCancelled(request_id="r7", correlation_id="r7")
    other = RequestCancelled(request_id="r8", correlation_id="r8")
    assert trace_of_headers(tracing.trace_headers(first)) == tracing.trace_id_for("r7")
    assert trace_of_headers(tracing.trace_headers(later)) == tracing.trace_id_for("r7")
    assert tracing.trace_id_for("r7") != tracing.trace_id_for("r8")
    assert trace_of_headers(tracing.trace_headers(other)) == tracing.trace_id_for("r8")


def test_a_stored_trace_is_continued_when_a_timer_fires_later() -> None:
    event = RequestCancelled(request_id="r1", correlation_id="r1", causation_id=uuid7())
    with tracing.continuing(CAUSE_TRACE):
        assert trace_of_headers(tracing.trace_headers(event)) == CAUSE_TRACE


def test_malformed_incoming_traceparent_is_ignored() -> None:
    cause_id = uuid7()
    event = RequestApproved(request_id="r1", correlation_id="r1", causation_id=cause_id)
    with tracing.incoming([(cause_id, "garbage"), (uuid7(), f"00-{'0' * 32}-00f067aa0ba902b7-01")]):
        assert tracing.trace_of(cause_id) is None
        assert trace_of_headers(tracing.trace_headers(event)) == tracing.trace_id_for("r1")
