"""One NBA game's feed events, made by the domain's own aggregates (for tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.fixture import Fixture
from domain.odds import MarginMethod, Market, OddsQuote, Outcome, PriceFormat
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Sport

ET = ZoneInfo("America/New_York")
P = Provenance(source="test", received_at=datetime(2020, 1, 1, tzinfo=UTC))


class Game:
    """One NBA game's events, made by the domain's own aggregates."""

    def __init__(self, home: str, away: str, tipoff: datetime, sport: Sport = Sport.BASKETBALL):
        competition = "nba" if sport == Sport.BASKETBALL else "epl"
        self.tipoff = tipoff
        self.fixture = Fixture.schedule(
            sport=sport,
            competition=competition,
            season="2020",
            home=home,
            away=away,
            kickoff=tipoff,
            venue=None,
            provenance=P,
        )
        market = Market.MONEYLINE if sport == Sport.BASKETBALL else Market.MATCH_RESULT
        self.book = OddsBook.open(fixture=self.fixture, source="book", market=market, provenance=P)

    def scheduled(self) -> list[object]:
        return [*self.fixture.collect_events(), *self.book.collect_events()]

    def quote(self, home: str, away: str, minutes_before: int = 30) -> list[object]:
        quote = OddsQuote.from_raw(
            Market.MONEYLINE,
            {Outcome.HOME: home, Outcome.AWAY: away},
            PriceFormat.AMERICAN,
            MarginMethod.PROPORTIONAL,
        )
        at = self.tipoff - timedelta(minutes=minutes_before)
        self.book.quote(quote=quote, fixture=self.fixture, stage=None, quoted_at=at, provenance=P)
        return list(self.book.collect_events())

    def play(self, quarters: list[tuple[int, int]], *, finish: bool = True) -> list[object]:
        """Tip-off, the quarters' ends, and (``finish``) the final."""
        self.fixture.start(self.tipoff, P)
        home = away = 0
        for n, (h, a) in enumerate(quarters, 1):
            home, away = home + h, away + a
            self.fixture.end_period(n, Score(home, away), P)
        if finish:
            self.fixture.finish(Score(home, away), P)
        return list(self.fixture.collect_events())


QUARTERS = [(30, 25), (20, 28), (27, 22), (25, 20)]  # leads after Q1-3: +5, -3, +2
