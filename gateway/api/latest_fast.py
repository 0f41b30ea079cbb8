"""A fast path for the hottest read: a latest-forecasts request whose answer is in the cache is
answered here, below FastAPI's routing and dependency resolution (which cost about three times
the rest of such a request; profiled with benchmarks/bench_rest.py).

It answers only when everything is in order: a cached answer, a cached caller holding
``forecasts:read`` whose plan covers the fixture, budget left. Anything else (a miss, a refusal,
another path) goes on to the app unchanged, so every answer but the fast one is the route's.
"""

from __future__ import annotations

import re
from uuid import UUID

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.access import Scope as AccessScope
from gateway.access.gate import AccessGate
from gateway.api.latest import LatestAnswer, LatestCache, answer_headers, matches
from gateway.problems import Problem

_PATH = re.compile(r"/v1/fixtures/([0-9a-fA-F-]{36})/forecasts/latest")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _token(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization:
        kind, _, credentials = authorization.partition(" ")
        if kind.lower() == "bearer" and credentials:
            return credentials.strip()
    return _header(scope, b"x-api-key")


class LatestFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = await self._answerable(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        cache: LatestCache = scope["app"].state.latest_cache
        headers = answer_headers(found, cache.ttl)
        fresh = matches(_header(scope, b"if-none-match"), found.etag)
        body = b"" if fresh else found.body
        if not fresh:
            headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(body))
        await send(
            {
                "type": "http.response.start",
                "status": 304 if fresh else 200,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answerable(self, scope: Scope) -> LatestAnswer | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        matched = _PATH.fullmatch(scope["path"])
        if matched is None:
            return None
        try:
            fixture_id = UUID(matched.group(1))
        except ValueError:
            return None
        state = scope["app"].state
        found: LatestAnswer | None = state.latest_cache.get(fixture_id)
        token = _token(scope)
        if found is None or not token:
            return None
        gate: AccessGate = state.access
        try:
            principal = await gate.authenticator.authenticate(token)
            if not principal.has(AccessScope.FORECASTS_READ):
                return None
            if not principal.allows(found.sport, found.competition):
                return None
            await gate.rate.spend(principal)
        except Problem:
            return None  # the route answers with the same refusal
        return found
