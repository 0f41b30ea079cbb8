"""In-play forecasts from real match events: league half-times with the pre-match market as the
prior, and World Cup goals and cards kept as match states the way the model was evaluated."""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest

from commands.forecasting.drafts import IN_MATCH_EVENT, KICK_OFF
from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.fixture_id import fixture_id
from domain.forecast import MARKET_FREE_PRIOR, FixtureForecasts
from domain.provenance import Provenance
from domain.sport import Sport
from forecasting.football.features import FootballFeatures
from forecasting.football.model import FootballModelParameters, train_football_model
from forecasting.inplay.live_matches import LiveMatches
from forecasting.inplay.model import (
    MatchState,
    TimelineEvent,
    state_at,
)
from infra.feeds.datasets import (
    WorldCupBookingRow,
    WorldCupGoalRow,
    WorldCupMatchRow,
    read_worldcup_bookings,
    read_worldcup_goals,
    read_worldcup_matches,
)
from infra.feeds.replay import Replay, _worldcup_kickoff
from infra.forecasting.model_file import (
    LoadedInPlayModel,
    LoadedModel,
    dump_model,
)
from infra.forecasting.service import ForecasterService, forecaster_env
from tests.small_models import small_inplay_model

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]


@pytest.fixture(scope="module")
def prematch_model() -> LoadedModel:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, len(fields(FootballFeatures))))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=500)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [FootballFeatures(*map(float, r)) for r in x]
    params = FootballModelParameters(max_iterations=30, early_stopping_rounds=10)
    return LoadedModel.from_bytes(
        dump_model(train_football_model(rows[:400], y[:400], rows[400:], y[400:], params))
    )


@pytest.fixture(scope="module")
def inplay_model() -> LoadedInPlayModel:
    return LoadedInPlayModel.from_bytes(small_inplay_model())


def stored_feed(
    nats_url: str, stream: str, source: str, since: date, until: date
) -> dict[str, str]:
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url, "NATS_STREAM": stream}
    app = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    for message in Replay(DATA, since=since, until=until).messages(source):
        with contextlib.suppress(DomainError):  # refused as in production
            app.handle(message.build(message.key, received))
    app.close()
    return env


def follow_all(
    env: dict[str, str], stream: str, model: LoadedModel, inplay: LoadedInPlayModel | None
) -> tuple[list[FixtureForecasts.ForecastIssued], int]:
    service = ForecasterService(env, stream, model, inplay_model=inplay)
    service.start()
    head = service.feeds.recorder.max_notification_id() or 0
    deadline = time.monotonic() + 120
    while service.position < head:
        assert service.failure is None, service.failure
        assert time.monotonic() < deadline, "the forecaster did not catch up"
        time.sleep(0.05)
    skipped = service.forecaster.inplay_skipped
    service.stop()
    reader = Forecaster(forecaster_env(env, stream))
    try:
        issued = [
            e
            for n in reader.recorder.select_notifications(start=1, limit=1_000_000)
            if isinstance(e := reader.mapper.to_domain_event(n), FixtureForecasts.ForecastIssued)
        ]
    finally:
        reader.close()
    return issued, skipped


def test_half_time_of_real_league_matches_issues_one_inplay_forecast_each(
    nats_url: str,
    unique_name: str,
    prematch_model: LoadedModel,
    inplay_model: LoadedInPlayModel,
) -> None:
    env = stored_feed(nats_url, unique_name, "football", date(2016, 3, 1), date(2016, 3, 7))
    feeds = FeedIngestion(env)
    half_times: dict[UUID, tuple[int, Fixture.PeriodEnded]] = {}
    for n in feeds.recorder.select_notifications(start=1, limit=1_000_000):
        event = feeds.mapper.to_domain_event(n)
        if isinstance(event, Fixture.PeriodEnded) and event.period == 1:
            half_times[event.originator_id] = (n.id, event)
    feeds.close()

    issued, skipped = follow_all(env, unique_name + "_F", prematch_model, inplay_model)
    inplay = [f for f in issued if f.trigger == IN_MATCH_EVENT]
    by_fixture = {f.fixture_id: f for f in inplay}
    assert len(by_fixture) == len(inplay) > 20  # one each
    assert skipped == 0
    latest_prematch: dict[UUID, FixtureForecasts.ForecastIssued] = {}
    for f in issued:
        if f.trigger != IN_MATCH_EVENT:
            latest_prematch[f.fixture_id] = f
    for fixture, f in by_fixture.items():
        position, half_time = half_times[fixture]
        assert f.as_of_position == position == f.input_notification_ids[-1]
        assert (f.model_id, f.artifact_hash) == (inplay_model.model_id, inplay_model.artifact_hash)
        assert f.features["minute"] == 45
        goals = (f.features["home_goals"], f.features["away_goals"])
        assert goals == (half_time.score.home, half_time.score.away)
        prior = tuple(f.features[k] for k in ("prior_home", "prior_draw", "prior_away"))
        if f.prior == MARKET_FREE_PRIOR:
            # nobody quoted it (impossible opening odds are refused): the market-free prior
            # its kick-off forecast gave, and no market
            assert latest_prematch[fixture].trigger == KICK_OFF
            assert prior == pytest.approx(tuple(latest_prematch[fixture].probabilities))
            assert tuple(f.market_probabilities) == ()
        else:
            # the prior is the last pre-match quote: the closing one the pre-match model was given
            assert tuple(f.market_probabilities) == tuple(
                latest_prematch[fixture].market_probabilities
            )
            assert prior == pytest.approx(tuple(f.market_probabilities))
        home, away = half_time.score.home, half_time.score.away
        state = MatchState(45, home, away, 0, 0, prior)  # type: ignore[arg-type]
        assert tuple(f.probabilities) == pytest.approx(inplay_model.predict_many([state])[0])
    # every half-time of a fixture quoted before kick-off, and no other
    assert set(half_times) & set(latest_prematch) <= set(by_fixture) <= set(half_times)

    # Without an in-play model: the same pre-match forecasts, no in-play ones, and it is known;
    # no market-free kick-off forecasts either (the prior's draw peak is the in-play artifact's).
    plain, skipped = follow_all(env, unique_name + "_G", prematch_model, None)
    assert skipped >= len(by_fixture)
    assert sorted(map(summary, plain)) == sorted(
        summary(f) for f in issued if f.trigger not in (IN_MATCH_EVENT, KICK_OFF)
    )


def summary(f: FixtureForecasts.ForecastIssued) -> tuple[int, str, str, tuple[float, ...]]:
    return f.as_of_position, str(f.fixture_id), f.trigger, tuple(f.probabilities)


def test_match_states_from_real_world_cup_events_are_the_evaluations_states(
    nats_url: str, unique_name: str
) -> None:
    """Goals, cards and half-time of the 2014 and 2018 World Cups as stored events give, at
    half-time, the state the evaluation builds from the CSV timeline (state_at(45))."""
    since, until = date(2014, 6, 1), date(2018, 7, 31)
    env = stored_feed(nats_url, unique_name, "worldcup", since, until)
    prior = (0.45, 0.27, 0.28)
    matches = LiveMatches()
    moments: dict[UUID, list[MatchState]] = defaultdict(list)
    feeds = FeedIngestion(env)
    for n in feeds.recorder.select_notifications(start=1, limit=1_000_000):
        event = feeds.mapper.to_domain_event(n)
        if isinstance(event, Fixture.Started):
            matches.start(event.originator_id, prior)
        moment = matches.apply(event, n.id)
        if moment is not None:
            moments[moment.fixture_id].append(moment.state)
    feeds.close()

    expected = world_cup_half_times(since, until, prior)
    assert len(expected) > 100
    for fixture, state in expected.items():
        at_half_time = [s for s in moments[fixture] if s.minute == 45]
        assert at_half_time, fixture
        last = at_half_time[-1]  # the half-time whistle comes after first-half stoppage
        assert last == state, fixture
    goals = sum(len([s for s in ms if s.minute <= 90]) for ms in moments.values())
    assert goals > len(expected)  # goals and cards each gave a moment, not just half-times


def world_cup_half_times(
    since: date, until: date, prior: tuple[float, float, float]
) -> dict[UUID, MatchState]:
    matches: dict[str, WorldCupMatchRow] = {}
    for m in read_worldcup_matches(DATA):
        if isinstance(m, WorldCupMatchRow) and since <= m.match_date <= until:
            matches[m.match_id] = m
    timelines: dict[str, list[TimelineEvent]] = defaultdict(list)
    rows = [*read_worldcup_goals(DATA), *read_worldcup_bookings(DATA)]
    for row in rows:
        if not isinstance(row, WorldCupGoalRow | WorldCupBookingRow):
            continue
        match = matches.get(row.match_id)
        if match is None:
            continue
        if isinstance(row, WorldCupBookingRow) and not row.sending_off:
            continue  # the evaluation counts sendings-off only
        timelines[row.match_id].append(
            TimelineEvent(
                kind="goal" if isinstance(row, WorldCupGoalRow) else "sending-off",
                minute=row.minute,
                home=row.team == match.home,
                extra_time=row.period.startswith("extra time"),
            )
        )
    out = {}
    for match_id, match in matches.items():
        ko = _worldcup_kickoff(match)
        fid = fixture_id(Sport.FOOTBALL, match.tournament, ko, match.home, match.away)
        out[fid] = state_at(timelines[match_id], 45, prior)
    return out
