"""Stored domain events -> forecasting inputs: the only way features see the world.

Times are event times (kick-off, when a quote was made), never the wall clock at which an event
was stored, so a replayed history and a live feed give the same features. A result is taken as
known 110 minutes after kick-off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from commands.forecasting.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsOpened,
    ResultKnown,
)
from domain.fixture import Fixture
from domain.odds import Market, QuoteStage
from domain.odds_book import OddsBook
from domain.sport import Sport

RESULT_KNOWN_AFTER = timedelta(minutes=110)


@dataclass(frozen=True)
class Quote:
    """A 1X2 quote as the forecaster compares with it."""

    fixture_id: UUID
    quoted_at: datetime
    stage: QuoteStage | None
    probabilities: tuple[float, float, float]  # margin-free, by the method the quote names


class InputTranslator:
    """Keeps the little state needed to translate (kick-offs, which book is whose)."""

    def __init__(self) -> None:
        self._fixtures: dict[UUID, FixtureAnnounced] = {}
        self._books: dict[UUID, UUID] = {}  # 1X2 odds book -> fixture
        self._opened: set[UUID] = set()

    def fixture(self, fixture_id: UUID) -> FixtureAnnounced | None:
        return self._fixtures.get(fixture_id)

    def quote(self, event: object) -> Quote | None:
        """The 1X2 quote an event carries, if it is one for a known football fixture."""
        if not isinstance(event, OddsBook.OddsQuoted):
            return None
        fixture_id = self._books.get(event.originator_id)
        if fixture_id is None or len(event.probabilities) != 3:
            return None
        home, draw, away = (float(p) for p in event.probabilities)
        stage = QuoteStage(event.stage) if event.stage else None
        return Quote(fixture_id, event.quoted_at, stage, (home, draw, away))

    def translate(self, event: object) -> ForecastInput | None:
        if isinstance(event, Fixture.Scheduled):
            if event.sport != Sport.FOOTBALL:
                return None
            announced = FixtureAnnounced(
                fixture_id=str(event.originator_id),
                competition=event.competition,
                season=event.season,
                home=event.home,
                away=event.away,
                kickoff=event.kickoff,
            )
            self._fixtures[event.originator_id] = announced
            return announced
        if isinstance(event, Fixture.Rescheduled):
            known = self._fixtures.get(event.originator_id)
            if known is None:
                return None
            moved = replace(known, kickoff=event.kickoff)
            self._fixtures[event.originator_id] = moved
            return moved
        if isinstance(event, OddsBook.Opened):
            if event.market == Market.MATCH_RESULT and event.fixture_id in self._fixtures:
                self._books[event.originator_id] = event.fixture_id
            return None
        if isinstance(event, OddsBook.OddsQuoted):
            return self._odds(event)
        if isinstance(event, Fixture.Finished):
            known = self._fixtures.get(event.originator_id)
            if known is None:
                return None
            return ResultKnown(
                fixture_id=known.fixture_id,
                home_goals=event.score.home,
                away_goals=event.score.away,
                at=known.kickoff + RESULT_KNOWN_AFTER,
            )
        return None

    def _odds(self, event: OddsBook.OddsQuoted) -> ForecastInput | None:
        fixture_id = self._books.get(event.originator_id)
        if fixture_id is None:
            return None
        home, draw, away = (float(p) for p in event.decimal_prices)
        fid = str(fixture_id)
        if event.stage == QuoteStage.CLOSING:
            return OddsClosed(fid, home, draw, away, event.quoted_at)
        if fixture_id in self._opened:
            return None  # a later move: a trigger for a new forecast, not a new feature input
        self._opened.add(fixture_id)
        return OddsOpened(fid, home, draw, away, event.quoted_at)
