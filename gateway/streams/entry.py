"""The streams' way in below FastAPI's routing and dependency resolution.

A stream lives for hours, and every frame of the code that opened it stays on its coroutine's
stack for as long: through FastAPI that is some twenty frames (Starlette's exception
middlewares, the router, the route, FastAPI's request handler with its solved dependencies),
and each frame sent passes through the exception middlewares' ``send`` wrappers. Entered
here, an open stream holds a handful of frames and its frames go to the server through one
wrapper (Starlette's outermost error middleware). Memory per idle connection is a target of
issue 15 (benchmarks/bench_sse.py).

Only a request that is plainly in order is opened here: a known endpoint, a running hub, a
well-formed ``recent``, an admitted caller. Anything else goes on to the route unchanged,
which answers it (404, 503, 422 or the refusal's problem+json), so every answer but an opened
stream is the route's own. The route also keeps the streams in the OpenAPI document.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.problems import Problem
from gateway.streams.endpoints import ENDPOINTS
from gateway.streams.router import MAX_RECENT, open_stream

PREFIX = "/v1/streams/"


class StreamEntry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            response = await self._opened(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _opened(self, scope: Scope) -> Response | None:
        name = scope["path"][len(PREFIX) :]
        if scope["method"] != "GET" or name not in ENDPOINTS:
            return None
        if getattr(scope["app"].state, "stream_hub", None) is None:
            return None
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
            )
        except Problem:  # refused: the route refuses it again, as problem+json
            return None
