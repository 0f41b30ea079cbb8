"""The forecaster's span: one per unit of feed events processed, continuing the trace of the
unit's first event (read from its stored message's headers); forecasts saved inside it carry
its context on (infra/eventstore/tracecontext.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext, SpanKind

from infra.eventstore.tracecontext import context_of

_tracer = trace.get_tracer("sportcast.forecaster")


@contextmanager
def processing_span(headers: Mapping[str, str] | None) -> Iterator[Span]:
    """Process a unit inside this span: a child of ``headers``' trace when the first event was
    stored in one; else not recorded (no trace of its own is started for untraced events)."""
    if not headers:
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(
        "forecaster.process", context=context_of(headers), kind=SpanKind.CONSUMER
    ) as span:
        yield span


def span_context_of(headers: Mapping[str, str]) -> SpanContext:
    return trace.get_current_span(context_of(headers)).get_span_context()
