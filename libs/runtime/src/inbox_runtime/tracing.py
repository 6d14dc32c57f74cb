"""OpenTelemetry traces across every hop: an HTTP request or a gRPC call opens a span, an event carries its
span's W3C `traceparent` in its envelope, and the consumer that handles it continues the same trace.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`configure_tracing`): then spans go in batches to
`<endpoint>/v1/traces` over OTLP/HTTP (protobuf), from a thread of the SDK's own. While off, every function
here returns at once (the SDK is not even imported), so a deployment without a collector pays nothing on
its hot paths. The SDK's own variables still apply when on (`OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_HEADERS`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Literal

from opentelemetry import trace
from opentelemetry.trace import SpanKind as OtelSpanKind
from opentelemetry.trace import Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SpanKind = Literal["server", "client", "consumer", "producer", "internal"]
_KINDS = {
    "server": OtelSpanKind.SERVER,
    "client": OtelSpanKind.CLIENT,
    "consumer": OtelSpanKind.CONSUMER,
    "producer": OtelSpanKind.PRODUCER,
    "internal": OtelSpanKind.INTERNAL,
}
_PROPAGATOR = TraceContextTextMapPropagator()

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def configure_tracing(service: str, endpoint: str) -> None:
    """Export this process's spans to the OTLP/HTTP collector at `endpoint` ("" leaves tracing off)."""
    global _tracer, _provider
    if not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    _provider, _tracer = provider, provider.get_tracer("inbox")


def shutdown_tracing() -> None:
    """Send what is still buffered and stop the exporter (at the process's end)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def tracing_enabled() -> bool:
    return _tracer is not None


# What `span` gives while tracing is off: a context manager that does nothing, made once (a generator-based
# one per call cost every event a consumer handled about 5 us, a sixth of a do-nothing consumer's CPU).
_NO_SPAN: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def span(
    name: str,
    *,
    kind: SpanKind = "internal",
    carrier: Mapping[str, str] | None = None,
    attributes: Mapping[str, str | int] | None = None,
    enabled: bool = True,
) -> contextlib.AbstractContextManager[None]:
    """A span around the block, current within it (so events published and calls made inside carry it).
    `carrier` holds the remote parent's `traceparent` (and `tracestate`), from an envelope or headers; without
    one the span continues the current trace or starts a new one. An exception leaving the block marks it
    failed. `enabled=False`: no span (a health probe's request)."""
    if _tracer is None or not enabled:
        return _NO_SPAN
    return _span(_tracer, name, kind, carrier, attributes)


@contextlib.contextmanager
def _span(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    carrier: Mapping[str, str] | None,
    attributes: Mapping[str, str | int] | None,
) -> Iterator[None]:
    parent = _PROPAGATOR.extract(carrier) if carrier else None
    with tracer.start_as_current_span(name, context=parent, kind=_KINDS[kind], attributes=attributes):
        yield


def current_trace_context() -> dict[str, str]:
    """The current span's `traceparent` (and `tracestate`), for an envelope or a call's metadata; {} when
    tracing is off or no span is current."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def set_span_attribute(key: str, value: str | int) -> None:
    """Add an attribute to the current span (a status code known only at the end); nothing when off."""
    if _tracer is None:
        return
    trace.get_current_span().set_attribute(key, value)


def mark_span_failed(description: str) -> None:
    """Mark the current span as failed without an exception leaving it (a refused call, a 5xx answer)."""
    if _tracer is None:
        return
    trace.get_current_span().set_status(Status(StatusCode.ERROR, description))


def name_span(name: str) -> None:
    """Rename the current span (an HTTP request's, once the route it matched is known); nothing when off."""
    if _tracer is None:
        return
    trace.get_current_span().update_name(name)
