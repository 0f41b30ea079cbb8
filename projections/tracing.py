"""Spans for events a projection applied live, each continuing the trace its event was stored
in (the W3C trace context the event store hands over as a notification's ``trace``).

Only pages read at the head of a log get spans: a rebuild or a catch-up re-applies old events
whose traces ended long ago, and would add thousands of spans to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eventsourcing.persistence import Notification
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_tracer = trace.get_tracer("sportcast.projections")
_propagator = TraceContextTextMapPropagator()


def trace_applied(
    projection: str, stream: str, notifications: Sequence[Notification], started_ns: int
) -> None:
    """One span per traced notification of a live page, from ``started_ns`` to now."""
    for n in notifications:
        headers: Mapping[str, str] | None = getattr(n, "trace", None)
        if not headers:
            continue
        span = _tracer.start_span(
            f"projection.apply {projection}",
            context=_propagator.extract(headers),
            kind=SpanKind.CONSUMER,
            start_time=started_ns,
            attributes={
                "sportcast.projection": projection,
                "sportcast.stream": stream,
                "sportcast.position": n.id,
            },
        )
        span.end()
