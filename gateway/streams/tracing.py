"""The hub's span for a live event stored inside a trace: its fan-out to the SSE subscribers,
a child of the span that stored it (the W3C context the message carried in its headers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from readmodels.live import Log, StreamEvent

_tracer = trace.get_tracer("sportcast.gateway.streams")
_propagator = TraceContextTextMapPropagator()


@contextmanager
def fan_out_span(log: Log, event: StreamEvent) -> Iterator[Span]:
    with _tracer.start_as_current_span(
        "sse.fan-out",
        context=_propagator.extract(event.trace or {}),
        kind=SpanKind.CONSUMER,
        attributes={
            "sportcast.log": str(log),
            "sportcast.position": event.seq,
            "sportcast.sse.event": event.type,
        },
    ) as span:
        yield span
