"""The analytics projection: feed and forecast events in, rows of the analytics tables out.

It follows two logs: the feed (fixtures, results, odds) and the forecaster's (forecasts). A
forecast is only applied once the feed has been applied up to the event it was computed as of
(its ``as_of_position``), so its fixture is always known and the outcome never depends on how
the two logs were interleaved. Each lane's position goes into the same batch as the rows.

What it keeps between events (kept in the store with the rows, and restored from it): each
fixture's dimensions and result, each odds book's fixture, source and market, and the forecasts
of fixtures without a result yet, so a result settles them. A result correction re-settles every
forecast of its fixture, read back from the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import groupby
from typing import Any, Protocol

from domain.fixture import Fixture
from domain.forecast import FixtureForecasts
from domain.odds_book import OddsBook
from domain.score import Score
from domain.scoring import observed_outcome
from projections.analytics.flatten import (
    IssuedForecast,
    epoch_ms,
    forecast_rows,
    quote_rows,
    settlement_rows,
)
from readmodels.analytics.batch import AnalyticsBatch, BookFacts, FixtureFacts, Row

FEED_LANE = "feeds"
FORECAST_LANE = "forecaster"

FEED_EVENTS: tuple[type[Any], ...] = (
    Fixture.Scheduled,
    Fixture.Rescheduled,
    Fixture.Finished,
    Fixture.ResultCorrected,
    Fixture.Abandoned,
    OddsBook.Opened,
    OddsBook.OddsQuoted,
)
FORECAST_EVENTS: tuple[type[Any], ...] = (
    FixtureForecasts.ForecastIssued,
    FixtureForecasts.FirstForecastIssued,
)


class AnalyticsProjectionError(Exception):
    """An event refers to something the projection has not seen: it stops there, with the
    error and its position, rather than write a row with missing dimensions."""

    code = "analytics-unknown-reference"


class StoredForecasts(Protocol):
    def forecast_rows(self, fixture_ids: list[str] | None = None) -> list[Row]: ...


class AnalyticsProjection:
    def __init__(
        self,
        stored: StoredForecasts,
        *,
        fixtures: Sequence[FixtureFacts] = (),
        books: Sequence[BookFacts] = (),
        positions: dict[str, int] | None = None,
    ) -> None:
        self._stored = stored
        self.fixtures = {f.fixture_id: f for f in fixtures}
        self.books = {b.book_id: b for b in books}
        self.positions = {FEED_LANE: 0, FORECAST_LANE: 0, **(positions or {})}
        self._open: dict[str, dict[str, IssuedForecast]] = {}
        """Forecasts of fixtures with no result yet, by fixture and forecast id."""
        self._unwritten: dict[str, dict[str, IssuedForecast]] = {}
        """Forecasts applied since the last batch was taken (not in the store yet)."""
        self._batch = AnalyticsBatch()
        waiting = [f.fixture_id for f in fixtures if f.result_position is None and not f.abandoned]
        for forecast in _grouped(stored.forecast_rows(waiting) if waiting else []):
            self._open.setdefault(forecast.fixture_id, {})[forecast.forecast_id] = forecast

    # -- the feed ------------------------------------------------------------------------

    def apply_feed(self, event: Any, notification_id: int) -> None:
        if isinstance(event, OddsBook.OddsQuoted):
            book = self._book(str(event.originator_id))
            for row in quote_rows(event, book, self._fixture(book.fixture_id)):
                self._batch.add("odds_quotes", row)
        elif isinstance(event, OddsBook.Opened):
            book = BookFacts(
                str(event.originator_id), str(event.fixture_id), event.source, str(event.market)
            )
            self._remember_book(book)
        elif isinstance(event, Fixture.Scheduled):
            self._remember_fixture(
                FixtureFacts(
                    fixture_id=str(event.originator_id),
                    sport=str(event.sport),
                    competition=event.competition,
                    season=event.season,
                    kickoff_at=epoch_ms(event.kickoff),
                )
            )
        elif isinstance(event, Fixture.Rescheduled):
            fixture = self._fixture(str(event.originator_id))
            self._remember_fixture(replace(fixture, kickoff_at=epoch_ms(event.kickoff)))
        elif isinstance(event, (Fixture.Finished, Fixture.ResultCorrected)):
            self._on_result(event, notification_id)
        elif isinstance(event, Fixture.Abandoned):
            fixture = self._fixture(str(event.originator_id))
            self._remember_fixture(replace(fixture, abandoned=True))
            self._open.pop(fixture.fixture_id, None)

    def _on_result(self, event: Any, notification_id: int) -> None:
        fixture_id = str(event.originator_id)
        score: Score = event.score
        fixture = replace(
            self._fixture(fixture_id),
            home_score=score.home,
            away_score=score.away,
            result_position=notification_id,
        )
        self._remember_fixture(fixture)
        settled = self._open.pop(fixture_id, {})
        if isinstance(event, Fixture.ResultCorrected):
            for forecast in _grouped(self._stored.forecast_rows([fixture_id])):
                settled.setdefault(forecast.forecast_id, forecast)
            settled.update(self._unwritten.get(fixture_id, {}))
        for forecast in sorted(settled.values(), key=lambda f: f.notification_id):
            self._settle(forecast, fixture)

    # -- the forecaster ------------------------------------------------------------------

    def ready_for(self, event: Any) -> bool:
        """True when the feed has been applied up to what the forecast was computed from."""
        return int(event.as_of_position) <= self.positions[FEED_LANE]

    def apply_forecast(self, event: Any, notification_id: int) -> None:
        if not self.ready_for(event):
            raise AnalyticsProjectionError(
                f"forecast at {notification_id} is as of feed position {event.as_of_position},"
                f" but the feed is only applied up to {self.positions[FEED_LANE]}"
            )
        forecast = IssuedForecast.of(event, notification_id)
        fixture = self._fixture(forecast.fixture_id)
        for row in forecast_rows(forecast, fixture):
            self._batch.add("forecasts", row)
            self._batch.add("forecasts_latest", row)
        self._unwritten.setdefault(forecast.fixture_id, {})[forecast.forecast_id] = forecast
        if fixture.result_position is not None:
            self._settle(forecast, fixture)
        elif not fixture.abandoned:
            self._open.setdefault(forecast.fixture_id, {})[forecast.forecast_id] = forecast

    # -- positions and batches -----------------------------------------------------------

    def advance(self, lane: str, position: int) -> None:
        if position < self.positions[lane]:
            raise ValueError(f"{lane} cannot go back from {self.positions[lane]} to {position}")
        self.positions[lane] = position
        self._batch.positions[lane] = position

    def take_batch(self) -> AnalyticsBatch:
        """What was applied since the last call, to be written in one transaction."""
        batch, self._batch = self._batch, AnalyticsBatch()
        self._unwritten.clear()
        return batch

    # -- helpers -------------------------------------------------------------------------

    def _settle(self, forecast: IssuedForecast, fixture: FixtureFacts) -> None:
        assert fixture.home_score is not None
        assert fixture.away_score is not None
        observed = observed_outcome(forecast.market, Score(fixture.home_score, fixture.away_score))
        settlement, outcomes = settlement_rows(forecast, fixture, observed)
        self._batch.add("settlements", settlement)
        for row in outcomes:
            self._batch.add("settled_outcomes", row)

    def _remember_fixture(self, fixture: FixtureFacts) -> None:
        self.fixtures[fixture.fixture_id] = fixture
        self._batch.fixtures[fixture.fixture_id] = fixture

    def _remember_book(self, book: BookFacts) -> None:
        self.books[book.book_id] = book
        self._batch.books[book.book_id] = book

    def _fixture(self, fixture_id: str) -> FixtureFacts:
        found = self.fixtures.get(fixture_id)
        if found is None:
            raise AnalyticsProjectionError(f"no Fixture.Scheduled seen for fixture {fixture_id}")
        return found

    def _book(self, book_id: str) -> BookFacts:
        found = self.books.get(book_id)
        if found is None:
            raise AnalyticsProjectionError(f"no OddsBook.Opened seen for odds book {book_id}")
        return found


def _grouped(rows: list[Row]) -> list[IssuedForecast]:
    """Stored forecast rows (ordered by notification id) back into forecasts."""
    return [
        IssuedForecast.from_rows(list(group))
        for _, group in groupby(rows, key=lambda row: row["forecast_id"])
    ]
