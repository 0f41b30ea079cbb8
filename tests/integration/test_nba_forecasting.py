"""NBA forecasting from the real event store: training rows from events equal those built from
the CSVs, and the live forecaster issues pre-game and quarter forecasts with those models.

Expected features are built from the CSV rows with the library's own walk-forward
(`walk_forward_features`), not from the events, so a translation that misread a day, a price or
a result fails here.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import pytest

from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.fixture_id import fixture_id
from domain.forecast import FixtureForecasts
from domain.sport import Sport
from forecasting.nba.features import (
    NbaFeatures,
    moneyline_home_probability,
    walk_forward_features,
)
from forecasting.nba.inplay import NbaQuarterState
from forecasting.nba.inputs import NbaGameResult, NbaGameScheduled, NbaMoneyline
from forecasting.nba.model import NbaModelParameters
from forecasting.nba.training import train
from infra.bootstrap import event_store_env
from infra.feeds.datasets import MalformedRow, NbaGameRow, read_nba
from infra.feeds.replay import NBA_TIPOFF, NBA_TZ, Replay
from infra.forecasting.history import max_position
from infra.forecasting.nba_history import read_training_set
from infra.forecasting.nba_model_file import LoadedNbaModels, dump_nba_models
from infra.forecasting.service import ForecasterService, forecaster_env
from infra.settings import Settings
from tests.replaying import play

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
HISTORY = ((date(2018, 3, 1), date(2018, 4, 11)), (date(2018, 10, 16), date(2018, 11, 30)))
LIVE = (date(2018, 12, 1), date(2018, 12, 3))
GameKey = tuple[date, str, str]


def rows_between(since: date, until: date) -> list[NbaGameRow]:
    return [
        r
        for r in read_nba(DATA)
        if not isinstance(r, MalformedRow) and since <= r.game_date <= until
    ]


def game_id(row: NbaGameRow) -> UUID:
    """The fixture id the feed gives the game (the game's id on the forecasting side too)."""
    tipoff = datetime.combine(row.game_date, NBA_TIPOFF, NBA_TZ)
    return fixture_id(Sport.BASKETBALL, "nba", tipoff, row.home, row.away)


def expected_features(rows: list[NbaGameRow]) -> dict[UUID, NbaFeatures]:
    """Every game's features from the CSV rows, as of its morning (playoffs unknown to a feed).
    Results of one day are applied in game-id order, in both."""
    games, results, lines = [], {}, {}
    for r in rows:
        key = str(game_id(r))
        games.append(NbaGameScheduled(key, str(r.season), r.game_date, r.home, r.away, False))
        if r.home_points is not None and r.away_points is not None:
            home, away = (
                (q[0] or 0, q[1] or 0, q[2] or 0, q[3] or 0)
                for q in (r.home_quarters, r.away_quarters)
            )
            results[key] = NbaGameResult(key, r.home_points, r.away_points, home, away)
        if r.moneyline_home and r.moneyline_away:
            line = NbaMoneyline(key, r.moneyline_home, r.moneyline_away)
            try:
                moneyline_home_probability(line)
            except (DomainError, ValueError):
                continue  # the feed refuses or the builder rejects it: no forecast either way
            lines[key] = line
    return {UUID(k): f for k, f in walk_forward_features(games, results, lines).items()}


@pytest.fixture(scope="module")
def store(nats_server: object, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from infra.embedded.nats import EmbeddedNats

    assert isinstance(nats_server, EmbeddedNats)
    settings = Settings(data_dir=DATA, stream_name=f"NBA{time.monotonic_ns()}")
    for since, until in HISTORY:
        play(settings, nats_server.url, "nba", Replay(DATA, since=since, until=until), lanes=1)
    return settings


def test_training_rows_from_the_event_store_are_the_csvs_walk_forward(
    store: Settings, nats_url: str
) -> None:
    feeds = FeedIngestion(event_store_env(store, nats_url))
    try:
        data = read_training_set(feeds, cutoff=max_position(feeds))
    finally:
        feeds.close()
    rows = [r for since, until in HISTORY for r in rows_between(since, until)]
    expected = expected_features(rows)
    assert len(expected) > 500
    seasons = {season: features for season, features, _ in data.seasons}
    assert sorted(seasons) == ["2018", "2019"]
    got = [f for features in seasons.values() for f in features]
    assert sorted(got, key=NbaFeatures.as_row) == sorted(expected.values(), key=NbaFeatures.as_row)
    home_won = {game_id(r): r.home_points > r.away_points for r in rows}  # type: ignore[operator]
    by_row = {f.as_row(): k for k, f in expected.items()}
    for _, features, won in data.seasons:
        assert list(won) == [home_won[by_row[f.as_row()]] for f in features]
    assert len(data.states) == 3 * len(got)  # every quoted game reached quarters 1-3


def test_the_forecaster_issues_nba_forecasts_with_the_trained_models(
    store: Settings, nats_url: str, unique_name: str
) -> None:
    env = event_store_env(store, nats_url)
    feeds = FeedIngestion(env)
    try:
        training = train(
            read_training_set(feeds, cutoff=max_position(feeds)),
            NbaModelParameters(max_iterations=60, validation_seasons=1),
        )
    finally:
        feeds.close()
    models = LoadedNbaModels.from_bytes(dump_nba_models(training.pregame, training.inplay))
    play(store, nats_url, "nba", Replay(DATA, since=LIVE[0], until=LIVE[1]), lanes=1)
    issued = follow_to_the_end(env, unique_name, models)

    every_row = [r for since, until in (*HISTORY, LIVE) for r in rows_between(since, until)]
    expected = expected_features(every_row)
    game_of = {game_id(r): r for r in every_row}
    pregame = [f for f in issued if f.model_id == models.pregame_id]
    quarters = [f for f in issued if f.model_id == models.inplay_id]
    assert len(pregame) == len(expected)  # one closing line per game: one pre-game forecast
    assert len(quarters) == 3 * len(pregame)
    names = NbaFeatures.names()
    for forecast in pregame:
        row = game_of[forecast.fixture_id]
        features = NbaFeatures(*(forecast.features[n] for n in names))
        assert features == expected[forecast.fixture_id]
        (home,) = models.predict_pregame([features])
        assert forecast.probabilities == pytest.approx((home, 1.0 - home))
        assert (forecast.market, tuple(forecast.outcomes)) == ("moneyline", ("home", "away"))
        assert forecast.trigger == "odds-closing"
        assert forecast.artifact_hash == models.artifact_hash
        assert isinstance(forecast, FixtureForecasts.FirstForecastIssued)  # one event, one message
    prior = {f.fixture_id: f.market_probabilities for f in pregame}
    for forecast in quarters:
        row = game_of[forecast.fixture_id]
        quarter = int(forecast.features["quarter"])
        lead = sum(
            (row.home_quarters[q] or 0) - (row.away_quarters[q] or 0) for q in range(quarter)
        )
        assert forecast.features["home_lead"] == lead
        assert forecast.market_probabilities == prior[forecast.fixture_id]
        state = NbaQuarterState(quarter, lead, prior[forecast.fixture_id][0])
        (home,) = models.predict_inplay([state])
        assert forecast.probabilities == pytest.approx((home, 1.0 - home))
        assert forecast.trigger == "in-match-event"


def follow_to_the_end(
    env: dict[str, str], stream: str, models: LoadedNbaModels
) -> list[FixtureForecasts.ForecastIssued]:
    """Run a real forecaster service over the whole feed; its stored forecasts in log order."""
    feeds = FeedIngestion(env)
    head = feeds.recorder.max_notification_id() or 0
    feeds.close()
    service = ForecasterService(env, stream, None, nba_models=models)
    service.start()
    try:
        deadline = time.monotonic() + 180
        while service.position < head:
            assert service.failure is None, service.failure
            assert time.monotonic() < deadline, "the forecaster did not catch up"
            time.sleep(0.1)
    finally:
        service.stop()
    reader = Forecaster(forecaster_env(env, stream))
    try:
        return [
            event
            for n in reader.recorder.select_notifications(start=1, limit=100_000)
            if isinstance(
                event := reader.mapper.to_domain_event(n), FixtureForecasts.ForecastIssued
            )
        ]
    finally:
        reader.close()
