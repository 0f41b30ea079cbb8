"""The span of one feed message received over HTTP: the root of its trace through the store,
the forecaster, the projections and the SSE gateway (or a child of the provider's own span,
when its request carries a W3C ``traceparent``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_tracer = trace.get_tracer("sportcast.gateway.ingest")
_propagator = TraceContextTextMapPropagator()


@contextmanager
def ingest_span(kind: str, provider: str, headers: Mapping[str, str]) -> Iterator[Span]:
    with _tracer.start_as_current_span(
        f"ingest {kind}",
        context=_propagator.extract(headers),
        kind=SpanKind.SERVER,
        attributes={"sportcast.feed.kind": kind, "sportcast.feed.provider": provider},
    ) as span:
        yield span
