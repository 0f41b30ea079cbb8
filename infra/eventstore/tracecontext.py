"""W3C trace context on stored messages: ``traceparent``/``tracestate`` NATS headers.

A save made inside a span carries that span's context in a header of each of its messages, so a
reader can continue the trace (the forecaster, the projections, the SSE gateway). Headers are
outside the hash chain (infra/eventstore/chain.py hashes the aggregate, version, topic, state
and the previous hash only), so the trace context never changes what the audit verifies, and a
log written with or without tracing verifies alike. With no tracer provider configured (the
API's default) spans are not recording, their context is invalid and no header is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
HEADERS = (TRACEPARENT, TRACESTATE)
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("sportcast.eventstore")


_OFF = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


def tracing_on() -> bool:
    """Whether a tracer provider records spans (none is installed unless OTLP is configured:
    then a save opens no span of its own, which costs microseconds on every append)."""
    return not isinstance(trace.get_tracer_provider(), _OFF)


def current_headers() -> dict[str, str]:
    """The current span's context as headers: empty when it is not valid (tracing off) or not
    sampled (nothing of that trace is recorded, so nothing downstream is kept either)."""
    if not trace.get_current_span().get_span_context().trace_flags.sampled:
        return {}
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return {k: v for k, v in carrier.items() if "\r" not in v and "\n" not in v}


def context_of(headers: Mapping[str, str]) -> Context:
    """The trace context a message's headers carry (an empty context when none)."""
    return _propagator.extract(headers)


@contextmanager
def append_span(stream: str, events: int) -> Iterator[Span]:
    """The span of one save to ``stream`` (a producer: its readers are its children)."""
    with _tracer.start_as_current_span(
        "eventstore.append",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": stream,
            "sportcast.events": events,
        },
    ) as span:
        yield span
