"""The streams' way in ahead of FastAPI's middleware stack, routing and dependency resolution.

A stream lives for hours, and every frame of the code that opened it stays on its coroutine's
stack for as long: through FastAPI that is some twenty frames (FastAPI's telemetry and body
limit middlewares, Starlette's error and exception middlewares, the router, the route,
FastAPI's request handler with its solved dependencies). ``gateway.app.Gateway`` opens a
stream with ``opened`` in its own ``__call__``, before any of them: an open stream's coroutine
holds the server's frame, the app's and the response's. Memory per idle connection is a
target of issue 15 (benchmarks/bench_sse.py; docs/adr/0030).

Only a request that is plainly in order is opened here: a known endpoint, a running hub, a
well-formed ``recent``, an admitted caller. Anything else goes on to the route unchanged,
which answers it (404, 503, 422 or the refusal's problem+json), so every answer but an opened
stream is the route's own. The route also keeps the streams in the OpenAPI document. An opened
stream is not a request of FastAPI's native telemetry (a span open for hours says nothing);
the streams' own metrics count it.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gateway.problems import Problem
from gateway.streams.endpoints import ENDPOINTS
from gateway.streams.router import MAX_RECENT, open_stream

PREFIX = "/v1/streams/"


async def opened(app: FastAPI, scope: Scope) -> Response | None:
    """The response of a stream opened here, None to let the route answer."""
    name = scope["path"][len(PREFIX) :]
    if scope["method"] != "GET" or name not in ENDPOINTS:
        return None
    if getattr(app.state, "stream_hub", None) is None:
        return None
    scope["app"] = app
    request = Request(scope)
    query = request.query_params
    try:
        recent = int(query.get("recent", "0"))
    except ValueError:
        return None
    if not 0 <= recent <= MAX_RECENT:
        return None
    try:
        return await open_stream(
            request,
            name,
            query.getlist("sport"),
            query.getlist("competition"),
            query.getlist("fixture"),
            query.getlist("model"),
            request.headers.get("last-event-id"),
            query.get("lastEventId"),
            recent,
            hand_over=True,  # nothing wraps ``send`` here: the connection may be handed over
        )
    except Problem:  # refused: the route refuses it again, as problem+json
        return None
