"""Stored events turned into what a stream client needs, as compact JSON encoded once.

Stored state is eventsourcing's JSON (values wrapped as ``{"_type_": ..., "_data_": ...}``);
it is decoded with orjson and unwrapped, never rebuilt into domain objects. Forecasts and odds
quotes do not carry their fixture's sport and competition, and odds quotes not even their
fixture: those come from the first event of the fixture's or the odds book's own subject
(``Origins``), looked up once per aggregate and remembered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from readmodels.live import Kind, StreamEvent

_FIXTURE = "domain.fixture:Fixture."
_ODDS = "domain.odds_book:OddsBook."
_FORECASTS = "domain.forecast:FixtureForecasts."
FORECAST_TYPES = {"ForecastIssued", "FirstForecastIssued"}
_DROPPED = {"provenance", "originator_topic", "timestamp"}
_KEBAB = re.compile(r"(?<!^)(?=[A-Z])")


def unwrap(value: Any) -> Any:
    """eventsourcing's transcoded values as plain JSON (uuids as canonical strings)."""
    if isinstance(value, dict):
        kind = value.get("_type_")
        if kind is not None and "_data_" in value and len(value) == 2:
            data = value["_data_"]
            if kind == "uuid_hex":
                h = str(data)
                return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            return unwrap(data)
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def kebab(name: str) -> str:
    return _KEBAB.sub("-", name).lower()


@dataclass(frozen=True, slots=True)
class FixtureOrigin:
    sport: str
    competition: str


@dataclass(frozen=True, slots=True)
class BookOrigin:
    fixture: str
    source: str
    market: str


FirstEvent = Callable[[str], Awaitable[tuple[str, bytes] | None]]
"""The topic and state of the first event of an aggregate (by its uuid), None if none."""


class Origins:
    """Fixtures' sport and competition, odds books' fixture, source and market."""

    def __init__(self, first_event: FirstEvent, *, capacity: int = 200_000) -> None:
        self._first_event = first_event
        self._capacity = capacity
        self.fixtures: dict[str, FixtureOrigin] = {}
        self.books: dict[str, BookOrigin] = {}
        self._asking: dict[str, asyncio.Future[tuple[str, bytes] | None]] = {}
        """Lookups in flight: events translated concurrently share one per aggregate."""

    async def _first(self, aggregate: str) -> tuple[str, bytes] | None:
        asking = self._asking.get(aggregate)
        if asking is None:
            asking = asyncio.ensure_future(self._first_event(aggregate))
            self._asking[aggregate] = asking
            asking.add_done_callback(lambda _: self._asking.pop(aggregate, None))
        return await asyncio.shield(asking)

    def learn_fixture(self, fixture: str, state: dict[str, Any]) -> FixtureOrigin:
        origin = FixtureOrigin(str(state.get("sport", "")), str(state.get("competition", "")))
        self._keep(self.fixtures, fixture, origin)
        return origin

    def learn_book(self, book: str, state: dict[str, Any]) -> BookOrigin:
        origin = BookOrigin(
            str(state.get("fixture_id", "")),
            str(state.get("source", "")),
            str(state.get("market", "")),
        )
        self._keep(self.books, book, origin)
        return origin

    def _keep(self, table: dict[str, Any], key: str, value: Any) -> None:
        if len(table) >= self._capacity:
            table.pop(next(iter(table)))  # oldest first: dicts keep insertion order
        table[key] = value

    async def fixture(self, fixture: str) -> FixtureOrigin:
        found = self.fixtures.get(fixture)
        if found is not None:
            return found
        first = await self._first(fixture)
        if first is None or not first[0].endswith(".Scheduled"):
            return FixtureOrigin("", "")  # not kept: it may be scheduled later
        return self.learn_fixture(fixture, unwrap(orjson.loads(first[1])))

    async def book(self, book: str) -> BookOrigin | None:
        found = self.books.get(book)
        if found is not None:
            return found
        first = await self._first(book)
        if first is None:
            return None
        return self.learn_book(book, unwrap(orjson.loads(first[1])))


def _fields(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in _DROPPED}


class Translator:
    """One stored event (sequence, aggregate uuid, topic, state) into a stream event or None."""

    def __init__(self, origins: Origins) -> None:
        self.origins = origins

    async def __call__(
        self, seq: int, aggregate: str, topic: str, state: bytes
    ) -> StreamEvent | None:
        if topic.startswith(_FORECASTS):
            return await self._forecast(seq, topic[len(_FORECASTS) :], state)
        if topic.startswith(_ODDS):
            return await self._odds(seq, aggregate, topic[len(_ODDS) :], state)
        if topic.startswith(_FIXTURE):
            return await self._match_event(seq, aggregate, topic[len(_FIXTURE) :], state)
        return None

    async def _forecast(self, seq: int, name: str, state: bytes) -> StreamEvent | None:
        if name not in FORECAST_TYPES:
            return None
        s = unwrap(orjson.loads(state))
        fixture = str(s["fixture_id"])
        origin = await self.origins.fixture(fixture)
        data = {
            "fixture": fixture,
            "sport": origin.sport,
            "competition": origin.competition,
            "kickoff": s.get("kickoff"),
            "model": s.get("model_id"),
            "market": s.get("market"),
            "outcomes": s.get("outcomes"),
            "probabilities": s.get("probabilities"),
            "market_probabilities": s.get("market_probabilities"),
            "edge": s.get("edge"),
            "trigger": s.get("trigger"),
            "issued_at": s.get("timestamp"),
        }
        return StreamEvent(
            seq,
            Kind.FORECAST,
            "forecast",
            origin.sport,
            origin.competition,
            fixture,
            str(s.get("model_id")),
            orjson.dumps(data),
        )

    async def _odds(self, seq: int, book: str, name: str, state: bytes) -> StreamEvent | None:
        s = unwrap(orjson.loads(state))
        if name == "Opened":
            self.origins.learn_book(book, s)
            return None
        if name != "OddsQuoted":
            return None
        where = await self.origins.book(book)
        if where is None:
            return None
        origin = await self.origins.fixture(where.fixture)
        data = {
            "fixture": where.fixture,
            "sport": origin.sport,
            "competition": origin.competition,
            "source": where.source,
            "market": where.market,
            **_fields(s),
        }
        return StreamEvent(
            seq,
            Kind.ODDS,
            "odds",
            origin.sport,
            origin.competition,
            where.fixture,
            None,
            orjson.dumps(data),
        )

    async def _match_event(
        self, seq: int, fixture: str, name: str, state: bytes
    ) -> StreamEvent | None:
        s = unwrap(orjson.loads(state))
        if name == "Scheduled":
            origin = self.origins.learn_fixture(fixture, s)
        else:
            origin = await self.origins.fixture(fixture)
        data = {
            "fixture": fixture,
            "sport": origin.sport,
            "competition": origin.competition,
            "at": s.get("timestamp"),
            **_fields(s),
        }
        return StreamEvent(
            seq,
            Kind.MATCH_EVENT,
            kebab(name),
            origin.sport,
            origin.competition,
            fixture,
            None,
            orjson.dumps(data),
        )
