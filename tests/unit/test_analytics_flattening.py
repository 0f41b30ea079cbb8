"""The analytics projection on real domain events (made by the aggregates), stored in a real
in-memory DuckDB store: settlement on a result, re-settlement on a correction, forecasts that
come after the result, abandoned fixtures, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.fixture import Fixture
from domain.forecast import MARKET_FREE_PRIOR, FixtureForecasts, Forecast
from domain.odds.margin import MarginMethod
from domain.odds.market import Market, Outcome
from domain.odds.price import PriceFormat
from domain.odds.quote import OddsQuote
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Sport
from projections.analytics.projection import (
    FEED_LANE,
    FORECAST_LANE,
    AnalyticsProjection,
    AnalyticsProjectionError,
)
from readmodels.analytics.store import AnalyticsStore

KICKOFF = datetime(2016, 3, 5, 15, tzinfo=UTC)
SEEN = Provenance(source="test", received_at=KICKOFF - timedelta(days=2))


def scheduled() -> tuple[Fixture, list[Any]]:
    fixture = Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="E0",
        season="2015-16",
        home="Arsenal",
        away="Spurs",
        kickoff=KICKOFF,
        venue=None,
        provenance=SEEN,
    )
    return fixture, list(fixture.collect_events())


def finished(fixture: Fixture, score: Score) -> list[Any]:
    fixture.start(KICKOFF, SEEN)
    fixture.finish(score, SEEN)
    return list(fixture.collect_events())


def issued(fixture: Fixture, probabilities: tuple[float, float, float], **kw: Any) -> Any:
    forecast = Forecast(
        kickoff=KICKOFF,
        trigger=kw.get("trigger", "odds-opened"),
        model_id=kw.get("model_id", "m1"),
        artifact_hash="h1",
        market="1x2",
        outcomes=("home", "draw", "away"),
        probabilities=probabilities,
        market_probabilities=kw.get("market", (0.4, 0.3, 0.3)),
        features={},
        as_of_position=kw.get("as_of", 1),
        input_notification_ids=(1,),
        **({"prior": MARKET_FREE_PRIOR} if kw.get("market") == () else {}),
    )
    stream = kw.get("stream")
    if stream is None:
        stream = FixtureForecasts.first(fixture.id, forecast)
    else:
        stream.issue(forecast)
    return stream, stream.collect_events()[-1]


class Run:
    """Feeds events in, writing each as its own batch, as the runner does."""

    def __init__(self) -> None:
        self.store = AnalyticsStore(":memory:")
        self.projection = AnalyticsProjection(self.store)
        self.feed = 0
        self.forecasts = 0

    def feed_events(self, events: list[Any]) -> None:
        for event in events:
            self.feed += 1
            self.projection.apply_feed(event, self.feed)
        self.projection.advance(FEED_LANE, self.feed)
        self.store.write(self.projection.take_batch())

    def forecast(self, event: Any) -> None:
        self.forecasts += 1
        self.projection.apply_forecast(event, self.forecasts)
        self.projection.advance(FORECAST_LANE, self.forecasts)
        self.store.write(self.projection.take_batch())

    def rows(self, table: str) -> list[dict[str, Any]]:
        cursor = self.store.reader().execute(f"SELECT * FROM {table} ORDER BY ALL")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_a_result_settles_the_open_forecasts_and_a_correction_rescores_them() -> None:
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events)
    _, event = issued(fixture, (0.5, 0.3, 0.2))
    run.forecast(event)
    assert run.rows("settlements") == []
    run.feed_events(finished(fixture, Score(2, 1)))
    [settled] = run.rows("settlements")
    assert settled["observed"] == "home"
    assert settled["rps"] == pytest.approx(((0.5 - 1) ** 2 + (0.8 - 1) ** 2) / 2)
    assert settled["market_rps"] == pytest.approx(((0.4 - 1) ** 2 + (0.7 - 1) ** 2) / 2)
    fixture.correct_result(Score(1, 1), "goal ruled out", SEEN)
    run.feed_events(list(fixture.collect_events()))
    [rescored] = run.rows("settlements")
    assert rescored["observed"] == "draw"
    assert rescored["rps"] == pytest.approx((0.5**2 + 0.2**2) / 2)
    assert rescored["result_position"] > settled["result_position"]
    observed = {r["outcome"]: r["observed"] for r in run.rows("settled_outcomes")}
    assert observed == {"home": 0, "draw": 1, "away": 0}


def test_a_correction_rescores_forecasts_written_in_earlier_batches_and_in_its_own() -> None:
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events + finished(fixture, Score(0, 2)))
    stream, first = issued(fixture, (0.2, 0.3, 0.5), trigger="in-match-event")
    run.forecast(first)  # after the result: settled at once
    assert [r["observed"] for r in run.rows("settlements")] == ["away"]
    _, second = issued(fixture, (0.1, 0.2, 0.7), stream=stream)
    fixture.correct_result(Score(0, 0), "abandoned goals", SEEN)
    run.projection.apply_forecast(second, 2)  # same batch as the correction
    run.projection.apply_feed(fixture.collect_events()[0], 99)
    run.projection.advance(FEED_LANE, 99)
    run.store.write(run.projection.take_batch())
    assert [r["observed"] for r in run.rows("settlements")] == ["draw", "draw"]


def test_the_latest_forecast_replaces_the_one_before_per_fixture_model_kind_and_outcome() -> None:
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events)
    stream, first = issued(fixture, (0.5, 0.3, 0.2))
    run.forecast(first)
    _, second = issued(fixture, (0.6, 0.25, 0.15), stream=stream, trigger="odds-moved")
    run.forecast(second)
    latest = run.rows("forecasts_latest")
    assert {r["trigger"] for r in latest} == {"odds-moved"}
    assert len(latest) == 3
    assert len(run.rows("forecasts")) == 6


def test_an_in_play_forecast_does_not_replace_the_pre_match_one_of_the_same_market() -> None:
    # As the PostgreSQL read model keeps it: the latest per fixture and model kind.
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events)
    stream, first = issued(fixture, (0.5, 0.3, 0.2), model_id="football-1x2-aa")
    run.forecast(first)
    _, live = issued(fixture, (0.7, 0.2, 0.1), stream=stream, model_id="football-inplay-bb")
    run.forecast(live)
    latest = run.rows("forecasts_latest")
    assert sorted({(r["model_kind"], r["model_id"]) for r in latest}) == [
        ("football-1x2", "football-1x2-aa"),
        ("football-inplay", "football-inplay-bb"),
    ]
    assert len(latest) == 6


def test_quotes_become_a_row_per_outcome_with_the_fixture_dimensions() -> None:
    run = Run()
    fixture, events = scheduled()
    book = OddsBook.open(
        fixture=fixture, source="b365", market=Market.MATCH_RESULT, provenance=SEEN
    )
    quote = OddsQuote.from_raw(
        Market.MATCH_RESULT,
        {Outcome.HOME: "2.0", Outcome.DRAW: "3.5", Outcome.AWAY: "4.0"},
        PriceFormat.DECIMAL,
        MarginMethod.PROPORTIONAL,
    )
    book.quote(quote=quote, fixture=fixture, stage=None, quoted_at=KICKOFF, provenance=SEEN)
    run.feed_events(events + list(book.collect_events()))
    rows = run.rows("odds_quotes")
    assert [(r["outcome"], r["decimal_price"]) for r in rows] == [
        ("away", 4.0),
        ("draw", 3.5),
        ("home", 2.0),
    ]
    assert {r["competition"] for r in rows} == {"E0"}
    assert rows[0]["implied_probability"] == pytest.approx(quote.probability_of(Outcome.AWAY))
    assert rows[0]["quoted_at"] == int(KICKOFF.timestamp() * 1000)


def test_an_abandoned_fixture_never_settles_its_forecasts() -> None:
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events)
    _, event = issued(fixture, (0.5, 0.3, 0.2))
    run.forecast(event)
    fixture.abandon("floodlights", SEEN)
    run.feed_events(list(fixture.collect_events()))
    assert run.rows("settlements") == []


def test_open_forecasts_survive_a_restart_and_settle_after_it() -> None:
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events)
    _, event = issued(fixture, (0.5, 0.3, 0.2))
    run.forecast(event)
    restarted = AnalyticsProjection(
        run.store,
        fixtures=run.store.fixtures(),
        books=run.store.books(),
        positions=run.store.positions(),
    )
    run.projection = restarted
    assert restarted.positions == {FEED_LANE: 1, FORECAST_LANE: 1}
    run.feed_events(finished(fixture, Score(0, 1)))
    assert [r["observed"] for r in run.rows("settlements")] == ["away"]


def test_a_forecast_ahead_of_the_feed_or_of_an_unknown_fixture_is_refused() -> None:
    run = Run()
    fixture, _ = scheduled()
    _, early = issued(fixture, (0.5, 0.3, 0.2), as_of=5)
    with pytest.raises(AnalyticsProjectionError, match="feed position 5"):
        run.projection.apply_forecast(early, 1)
    run.projection.advance(FEED_LANE, 5)
    with pytest.raises(AnalyticsProjectionError, match=r"no Fixture\.Scheduled"):
        run.projection.apply_forecast(early, 1)
    with pytest.raises(ValueError, match="cannot go back"):
        run.projection.advance(FEED_LANE, 4)


def test_a_market_free_forecast_without_a_market_has_null_market_columns_and_scores() -> None:
    run = Run()
    fixture, events = scheduled()
    run.feed_events(events)
    _, event = issued(fixture, (0.5, 0.3, 0.2), market=())
    run.forecast(event)
    rows = run.rows("forecasts")
    assert [(r["market_probability"], r["edge"]) for r in rows] == [(None, None)] * 3
    run.feed_events(finished(fixture, Score(2, 0)))
    [settled] = run.rows("settlements")
    assert settled["rps"] == pytest.approx(((0.5 - 1) ** 2 + (0.8 - 1) ** 2) / 2)
    assert (settled["market_rps"], settled["market_log_loss"], settled["market_brier"]) == (
        None,
        None,
        None,
    )
    assert {r["market_probability"] for r in run.rows("settled_outcomes")} == {None}
