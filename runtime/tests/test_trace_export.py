"""Where spans go: to an OTLP collector over gRPC (what docker-compose and the Helm chart configure),
or nowhere, while the trace context still crosses the hop."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from pydantic import ValidationError

from latchkey.runtime.observability import tracer_provider
from latchkey.runtime.settings import ServiceSettings
from latchkey.runtime.testing.ports import free_port

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """The OTLP trace service of a collector: keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Collector]:
    received = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    try:
        yield received
    finally:
        server.stop(grace=None)


def test_otlp_sends_the_services_spans_to_the_collector(collector: _Collector) -> None:
    provider = tracer_provider("connector", "otlp")
    assert provider is not None
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("connector.command", context=extract({"traceparent": PARENT})) as span:
        span.set_attribute("latchkey.command_id", "c-1")
    assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()

    spans = [
        (resource.resource, s)
        for request in collector.requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for s in scope.spans
    ]
    assert len(spans) == 1, spans
    resource, sent = spans[0]
    assert sent.name == "connector.command"
    assert sent.trace_id.hex() == TRACE, "the span continues the incoming trace"
    assert sent.parent_span_id.hex() == "00f067aa0ba902b7"
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "connector"


def test_without_an_exporter_nothing_is_recorded_and_the_trace_still_continues() -> None:
    """ "none" installs no provider: OpenTelemetry's API tracer (the process default) records nothing,
    but a span started from an incoming traceparent carries its trace id into what is emitted next."""
    assert tracer_provider("flow-engine", "none") is None
    tracer = trace.NoOpTracerProvider().get_tracer("test")
    with tracer.start_as_current_span("consume", context=extract({"traceparent": PARENT})) as span:
        assert not span.is_recording()
        assert format(trace.get_current_span().get_span_context().trace_id, "032x") == TRACE
        carrier: dict[str, str] = {}
        inject(carrier)
    assert carrier["traceparent"].split("-")[1] == TRACE


def test_an_unknown_exporter_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="otel_exporter"):
        ServiceSettings(otel_exporter="jaeger")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown trace exporter 'jaeger'"):
        tracer_provider("expiry", "jaeger")
