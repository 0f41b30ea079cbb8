"""The four stream endpoints: which logs each follows and which kinds of event it shows."""

from __future__ import annotations

from dataclasses import dataclass

from readmodels.live import Kind, Log


@dataclass(frozen=True)
class Endpoint:
    name: str
    logs: tuple[Log, ...]
    kinds: frozenset[Kind]
    reload: str
    """The REST resource to reload state from after a reset."""


FORECASTS = "forecasts"
ODDS = "odds"
MATCH_EVENTS = "match-events"
ALL = "all"

ENDPOINTS: dict[str, Endpoint] = {
    FORECASTS: Endpoint(FORECASTS, (Log.FORECASTS,), frozenset({Kind.FORECAST}), "/v1/fixtures"),
    ODDS: Endpoint(ODDS, (Log.EVENTS,), frozenset({Kind.ODDS}), "/v1/fixtures"),
    MATCH_EVENTS: Endpoint(
        MATCH_EVENTS, (Log.EVENTS,), frozenset({Kind.MATCH_EVENT}), "/v1/fixtures"
    ),
    ALL: Endpoint(ALL, (Log.EVENTS, Log.FORECASTS), frozenset(Kind), "/v1/fixtures"),
}

ENDPOINT_OF_KIND: dict[Kind, str] = {
    Kind.FORECAST: FORECASTS,
    Kind.ODDS: ODDS,
    Kind.MATCH_EVENT: MATCH_EVENTS,
}
