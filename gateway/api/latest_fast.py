"""The fast path of the hottest read: a latest-forecasts request whose answer is a kept copy is
answered before FastAPI sees it (``gateway.app.Gateway`` calls ``answer`` first).

Below FastAPI means: no native telemetry span or duration histogram per request (with a meter
provider configured, as in production, that cost about three times the rest of such an
answer), no middleware, routing or dependency resolution. What a fast answer costs is a path
match, a dict lookup for the caller, one for the copy, a token taken from the caller's bucket and
two ``send`` calls with bytes and headers made when the copy was (docs/adr/0029).

It answers a GET or HEAD only when everything is in order: no ``min_position`` (a
read-your-writes read waits and reads PostgreSQL in the route), a kept copy, a caller (API key or
JWT) verified recently (the authenticator's cache) holding ``forecasts:read`` whose plan covers
the fixture, budget left. Anything else (a miss, a caller not in the cache, a refusal, another
path) goes on to the app unchanged, so every answer but the fast one is the route's,
problem+json refusals included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from uuid import UUID

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from starlette.types import Scope, Send

from domain.access import Scope as AccessScope
from gateway.access.gate import AccessGate
from gateway.api.latest import LatestCache, matches
from gateway.problems import Problem

_PATH = re.compile(r"/v1/fixtures/([0-9a-fA-F-]{36})/forecasts/latest")
_METHODS = frozenset({"GET", "HEAD"})


class FastAnswers:
    """How many latest-forecast answers this process sent by the fast path: they are in no
    request metric of FastAPI's, so this count is (``sportcast.http.latest_fast_answers``)."""

    count = 0


def _fast_answers(_: CallbackOptions) -> Iterable[Observation]:
    yield Observation(FastAnswers.count)


metrics.get_meter("sportcast.gateway").create_observable_counter(
    "sportcast.http.latest_fast_answers",
    [_fast_answers],
    description="Latest-forecast answers sent from a kept copy before FastAPI's routing and "
    "telemetry (docs/adr/0029)",
)


def _presented(scope: Scope) -> tuple[str | None, str | None]:
    """The credential (``Authorization: Bearer`` first, else ``X-API-Key``) and If-None-Match,
    in one pass over the headers."""
    authorization = api_key = if_none_match = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = bytes(value).decode("latin-1")
        elif key == b"x-api-key":
            api_key = bytes(value).decode("latin-1")
        elif key == b"if-none-match":
            if_none_match = bytes(value).decode("latin-1")
    if authorization:
        kind, _, credentials = authorization.partition(" ")
        if kind.lower() == "bearer" and credentials:
            return credentials.strip(), if_none_match
    return api_key, if_none_match


class LatestFastPath:
    def __init__(self, cache: LatestCache, gate: AccessGate) -> None:
        self._cache = cache
        self._gate = gate

    async def answer(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is a kept, admissible latest-forecasts read; False (nothing
        sent) leaves it to the app."""
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            return False
        matched = _PATH.fullmatch(scope["path"])
        if matched is None or b"min_position" in scope["query_string"]:
            return False  # another path, or a read-your-writes read: the route's
        try:
            fixture_id = UUID(matched.group(1))
        except ValueError:
            return False
        found = self._cache.get(fixture_id)
        if found is None:
            return False
        token, if_none_match = _presented(scope)
        if not token:
            return False
        gate = self._gate
        principal = gate.authenticator.cached(token)
        if (
            principal is None
            or not principal.has(AccessScope.FORECASTS_READ)
            or not principal.allows(found.sport, found.competition)
        ):
            return False
        spent = gate.rate.try_spend(principal)
        if spent is None:  # a shared budget: one round trip to its storage
            try:
                await gate.rate.spend(principal)
            except Problem:
                return False  # the route answers with the same refusal
        elif not spent:
            return False
        if matches(if_none_match, found.etag):
            await send(
                {"type": "http.response.start", "status": 304, "headers": found.raw_not_modified}
            )
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": found.raw_ok})
            body = found.body if scope["method"] == "GET" else b""  # HEAD: the headers alone
            await send({"type": "http.response.body", "body": body})
        FastAnswers.count += 1
        return True
