"""The span of one feed message received over HTTP: the root of its trace through the store,
the forecaster, the projections and the SSE gateway (or a child of the provider's own span,
when its request carries a W3C ``traceparent``)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
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


def traced_ingest(
    ingest: Callable[..., Awaitable[JSONResponse]],
) -> Callable[..., Awaitable[JSONResponse]]:
    """``ingest`` (called with keywords ``request``, ``provider`` and ``kind``) in its span; the
    trace of the message starts there, or continues the provider's, when its request carries a
    W3C traceparent."""

    @functools.wraps(ingest)
    async def traced(**kwargs: Any) -> JSONResponse:
        request: Request = kwargs["request"]
        with ingest_span(kwargs["kind"], kwargs["provider"].name, request.headers) as span:
            response = await ingest(**kwargs)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    return traced
