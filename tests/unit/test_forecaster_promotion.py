"""A promotion re-issues, with the new model, the forecasts that model makes: NBA games before
tip-off (their last line) and in play (their last quarter end), football matches in play (their
last state); once, and only where the latest forecast is another model's (in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import Tracking

from commands.forecasting.drafts import MODEL_PROMOTED
from commands.forecasting.forecaster import Forecaster
from domain.fixture import Fixture
from domain.forecast import FixtureForecasts
from domain.odds import MarginMethod, Market, OddsQuote, Outcome, PriceFormat
from domain.odds_book import OddsBook
from domain.sport import Side, Sport
from forecasting.inplay.model import MatchState
from forecasting.nba.inplay import NbaInPlayModel, QuarterFit
from forecasting.nba.model import NbaModel
from infra.forecasting.nba_model_file import LoadedNbaModels, dump_nba_models
from tests.nba_events import ET, QUARTERS, Game, P


def nba_file(lead_weight: float) -> LoadedNbaModels:
    fits = {q: QuarterFit(1.0, lead_weight, 0.0) for q in (1, 2, 3)}
    data = dump_nba_models(
        NbaModel(booster=None, trees=0, validation_gain=0.0), NbaInPlayModel(fits)
    )
    return LoadedNbaModels.from_bytes(data)


@dataclass(frozen=True)
class FixedInPlay:
    """An in-play football model that always says the same (the forecaster's wiring is under
    test, not the model)."""

    model_id: str
    artifact_hash: str

    def predict_many(self, states: Sequence[MatchState]) -> list[tuple[float, float, float]]:
        return [(0.5, 0.3, 0.2) for _ in states]


class Feed:
    def __init__(self, forecaster: Forecaster) -> None:
        self.forecaster, self.position = forecaster, 0

    def __call__(self, events: list[object]) -> None:
        items = []
        for event in events:
            self.position += 1
            items.append((event, Tracking("feeds", self.position)))
        self.forecaster.process(items)


def football_match(tipoff: datetime) -> tuple[Fixture, OddsBook, list[object]]:
    fixture = Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="epl",
        season="2019-2020",
        home="ars",
        away="che",
        kickoff=tipoff,
        venue=None,
        provenance=P,
    )
    book = OddsBook.open(fixture=fixture, source="book", market=Market.MATCH_RESULT, provenance=P)
    quote = OddsQuote.from_raw(
        Market.MATCH_RESULT,
        {Outcome.HOME: "2.10", Outcome.DRAW: "3.40", Outcome.AWAY: "3.60"},
        PriceFormat.DECIMAL,
        MarginMethod.PROPORTIONAL,
    )
    book.quote(
        quote=quote,
        fixture=fixture,
        stage=None,
        quoted_at=tipoff - timedelta(hours=1),
        provenance=P,
    )
    fixture.start(tipoff, P)
    fixture.record_goal(side=Side.HOME, minute=23, provenance=P)
    return fixture, book, [*fixture.collect_events(), *book.collect_events()]


def in_order(events: list[object]) -> list[object]:
    """Feed events in the order they happened (the schedule, the book, the quote, the start)."""
    return sorted(events, key=lambda e: e.timestamp)  # type: ignore[attr-defined]


def latest(forecaster: Forecaster, fixture_id: UUID) -> FixtureForecasts:
    forecasts = forecaster.forecasts(fixture_id)
    assert forecasts is not None
    return forecasts


def test_a_promotion_reissues_each_kinds_forecasts_once() -> None:
    old_nba, new_nba = nba_file(0.05), nba_file(0.10)
    old_inplay = FixedInPlay("football-inplay-old", "a" * 64)
    new_inplay = FixedInPlay("football-inplay-new", "b" * 64)
    forecaster = Forecaster(nba_models=old_nba, inplay_model=old_inplay)
    feed = Feed(forecaster)
    upcoming = Game("mia", "chi", datetime(2020, 2, 1, 19, 30, tzinfo=ET))
    in_play = Game("bos", "ny", datetime(2020, 2, 1, 13, tzinfo=ET))
    over = Game("lal", "den", datetime(2020, 1, 31, 19, tzinfo=ET))
    not_quoted = Game("sac", "phx", datetime(2020, 2, 1, 22, tzinfo=ET))
    feed(over.scheduled() + in_play.scheduled() + upcoming.scheduled() + not_quoted.scheduled())
    feed(over.quote("-150", "+130"))
    feed(over.play(QUARTERS))
    feed(in_play.quote("-120", "+100"))
    feed(in_play.play(QUARTERS[:2], finish=False))
    feed(upcoming.quote("+110", "-130"))
    match, _, events = football_match(datetime(2020, 2, 1, 15, tzinfo=UTC))
    feed(in_order(events))
    assert latest(forecaster, in_play.fixture.id).latest_model_id == old_nba.inplay_id
    assert latest(forecaster, match.id).latest_model_id == old_inplay.model_id
    before = {f: latest(forecaster, f).issued for f in (over.fixture.id, match.id)}

    reissued = forecaster.promote(
        None, Tracking("registry", 7), nba_models=new_nba, inplay_model=new_inplay
    )

    assert reissued == 3
    for fixture_id, model_id in (
        (upcoming.fixture.id, new_nba.pregame_id),
        (in_play.fixture.id, new_nba.inplay_id),
        (match.id, new_inplay.model_id),
    ):
        forecasts = latest(forecaster, fixture_id)
        assert (forecasts.latest_model_id, forecasts.latest_trigger) == (model_id, MODEL_PROMOTED)
    assert latest(forecaster, over.fixture.id).issued == before[over.fixture.id]  # finished
    assert latest(forecaster, match.id).issued == before[match.id] + 1
    assert forecaster.forecasts(not_quoted.fixture.id) is None  # nothing to re-issue
    assert forecaster.promotion_position("registry") == 7
    # The same promotion again, or a later one of the same models: nothing more.
    assert forecaster.promote(None, Tracking("registry", 7), nba_models=new_nba) == 0
    assert forecaster.promote(None, Tracking("registry", 9), nba_models=new_nba) == 0
    assert forecaster.promotion_position("registry") == 9
    forecaster.close()


def test_an_nba_promotion_leaves_football_forecasts_alone() -> None:
    forecaster = Forecaster(nba_models=nba_file(0.05), inplay_model=FixedInPlay("m1", "c" * 64))
    feed = Feed(forecaster)
    match, _, events = football_match(datetime(2020, 2, 1, 15, tzinfo=UTC))
    feed(in_order(events))
    issued = latest(forecaster, match.id).issued

    assert forecaster.promote(None, Tracking("registry", 1), nba_models=nba_file(0.2)) == 0
    assert latest(forecaster, match.id).issued == issued
    forecaster.close()
