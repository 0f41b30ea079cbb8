"""Stored domain events -> forecasting inputs: the only way features see the world.

Times are event times (kick-off, when a quote was made), never the wall clock at which an event
was stored, so a replayed history and a live feed give the same features. A result is taken as
known 110 minutes after kick-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.fixture import Fixture
from domain.odds import Market, QuoteStage
from domain.odds_book import OddsBook
from domain.sport import Sport
from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsMoved,
    OddsOpened,
    ResultKnown,
)

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
            return self.scheduled(
                event.originator_id,
                sport=event.sport,
                competition=event.competition,
                season=event.season,
                home=event.home,
                away=event.away,
                kickoff=event.kickoff,
                venue_country=event.venue_country,
            )
        if isinstance(event, Fixture.Rescheduled):
            return self.rescheduled(event.originator_id, event.kickoff, event.venue_country)
        if isinstance(event, OddsBook.Opened):
            self.book_opened(event.originator_id, event.fixture_id, event.market)
            return None
        if isinstance(event, OddsBook.OddsQuoted):
            return self.quoted(
                event.originator_id, event.stage, event.quoted_at, event.decimal_prices
            )
        if isinstance(event, Fixture.Finished):
            return self.finished(event.originator_id, event.score.home, event.score.away)
        return None

    # One method per event type, on just the fields used: `translate` takes domain events, and
    # a bulk reader of stored events may call these with fields it decoded itself.

    def scheduled(
        self,
        fixture_id: UUID,
        *,
        sport: str,
        competition: str,
        season: str,
        home: str,
        away: str,
        kickoff: datetime,
        venue_country: str | None = None,
    ) -> FixtureAnnounced | None:
        if sport != Sport.FOOTBALL:
            return None
        announced = FixtureAnnounced(
            fixture_id=str(fixture_id),
            competition=competition,
            season=season,
            home=home,
            away=away,
            kickoff=kickoff,
            venue_country=venue_country,
        )
        self._fixtures[fixture_id] = announced
        return announced

    def rescheduled(
        self, fixture_id: UUID, kickoff: datetime, venue_country: str | None = None
    ) -> FixtureAnnounced | None:
        known = self._fixtures.get(fixture_id)
        if known is None:
            return None
        moved = replace(known, kickoff=kickoff, venue_country=venue_country)
        self._fixtures[fixture_id] = moved
        return moved

    def book_opened(self, book_id: UUID, fixture_id: UUID, market: str) -> None:
        if market == Market.MATCH_RESULT and fixture_id in self._fixtures:
            self._books[book_id] = fixture_id

    def follows_book(self, book_id: UUID) -> bool:
        """Whether quotes of this odds book can become inputs (else `quoted` ignores them)."""
        return book_id in self._books

    def quoted(
        self,
        book_id: UUID,
        stage: str | None,
        quoted_at: datetime,
        decimal_prices: Sequence[float],
    ) -> ForecastInput | None:
        fixture_id = self._books.get(book_id)
        if fixture_id is None:
            return None
        home, draw, away = (float(p) for p in decimal_prices)
        fid = str(fixture_id)
        if stage == QuoteStage.CLOSING:
            return OddsClosed(fid, home, draw, away, quoted_at)
        if fixture_id in self._opened:
            return OddsMoved(fid, home, draw, away, quoted_at)  # the latest market from now on
        self._opened.add(fixture_id)
        return OddsOpened(fid, home, draw, away, quoted_at)

    def finished(self, fixture_id: UUID, home_goals: int, away_goals: int) -> ResultKnown | None:
        known = self._fixtures.get(fixture_id)
        if known is None:
            return None
        return ResultKnown(
            fixture_id=known.fixture_id,
            home_goals=home_goals,
            away_goals=away_goals,
            at=known.kickoff + RESULT_KNOWN_AFTER,
        )
