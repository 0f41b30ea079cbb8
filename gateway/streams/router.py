"""``GET /v1/streams/{forecasts,odds,match-events,all}``: server-sent events with exact resume.

Filters are repeatable query parameters (``sport``, ``competition``, ``fixture``, ``model``).
A client resumes with the ``Last-Event-ID`` header, or the ``lastEventId`` query parameter when
it cannot set headers (the header wins). A new client (no id) may ask for the ``recent`` most
recent events first, from the replay buffer: a page then shows its first update at once and
resumes exactly like any other (the browser's reconnect sends its Last-Event-ID, which wins).
docs/asyncapi.yaml describes the messages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse, Response

from gateway.ports import StreamAccess
from gateway.problems import ServiceUnavailable
from gateway.streams.endpoints import ALL, ENDPOINTS, FORECASTS, MATCH_EVENTS, ODDS
from gateway.streams.filters import interned
from gateway.streams.hub import Hub
from gateway.streams.response import StreamResponse

router = APIRouter(prefix="/v1/streams", tags=["streams"])

Values = Annotated[list[str] | None, Query()]
LastEventIdHeader = Annotated[str | None, Header(alias="Last-Event-ID")]
LastEventIdQuery = Annotated[str | None, Query(alias="lastEventId")]
MAX_RECENT = 1000
Recent = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_RECENT,
        description="Without a Last-Event-ID: first send up to this many of the most recent "
        "events this gateway holds (its replay buffer), then the live ones.",
    ),
]

_DESCRIPTION = (
    "Server-sent events. `id:` orders the events (see docs/asyncapi.yaml); resume with the "
    "Last-Event-ID header or the lastEventId query parameter; a new client may ask for the "
    "`recent` last events first. A comment arrives every 15 s."
)


async def open_stream(
    request: Request,
    name: str,
    sport: list[str] | None,
    competition: list[str] | None,
    fixture: list[str] | None,
    model: list[str] | None,
    header_id: str | None,
    query_id: str | None,
    recent: int,
    *,
    hand_over: bool = False,
) -> Response:
    """The stream's response (the route's and ``gateway.streams.entry``'s); raises the
    Problem that refuses the caller. ``hand_over``: the response may take the connection from
    the server (``gateway.streams.handover``; only where no middleware wraps ``send``)."""
    hub: Hub | None = getattr(request.app.state, "stream_hub", None)
    if hub is None:
        raise ServiceUnavailable("the streams are not running in this gateway")
    access: StreamAccess | None = getattr(request.app.state, "stream_access", None)
    entitlement = None if access is None else await access.entitlement(request)
    flt = interned(*(tuple(sorted(set(v or ()))) for v in (sport, competition, fixture, model)))
    last_event_id = header_id if header_id is not None else query_id
    held = getattr(access, "held", None)  # gives the caller's connection back at the end
    return StreamResponse(
        hub,
        ENDPOINTS[name],
        flt,
        entitlement,
        last_event_id,
        recent,
        release=None if held is None else held(request),
        hand_over=hand_over,
    )


def _route(name: str, summary: str) -> None:
    async def stream(
        request: Request,
        sport: Values = None,
        competition: Values = None,
        fixture: Values = None,
        model: Values = None,
        last_event_id: LastEventIdHeader = None,
        last_event_id_query: LastEventIdQuery = None,
        recent: Recent = 0,
    ) -> Response:
        return await open_stream(
            request,
            name,
            sport,
            competition,
            fixture,
            model,
            last_event_id,
            last_event_id_query,
            recent,
        )

    router.add_api_route(
        f"/{name}",
        stream,
        methods=["GET"],
        summary=summary,
        description=_DESCRIPTION,
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
        name=f"stream_{name.replace('-', '_')}",
    )


_route(FORECASTS, "Forecasts as they are issued")
_route(ODDS, "Odds quotes")
_route(MATCH_EVENTS, "Match events (scheduling, kick-off, goals, cards, periods, results)")
_route(ALL, "Forecasts, odds and match events merged")
