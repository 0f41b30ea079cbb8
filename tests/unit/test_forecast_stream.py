"""A fixture's forecast stream: the first forecast opens it, so every forecast is one event."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application

from domain.forecast import (
    MARKET_FREE_PRIOR,
    MARKET_PRIOR,
    FixtureForecasts,
    Forecast,
    forecasts_id,
)


def forecast(trigger: str, home: float) -> Forecast:
    return Forecast(
        kickoff=datetime(2022, 8, 6, 14, tzinfo=UTC),
        trigger=trigger,
        model_id="m1",
        artifact_hash="ab" * 32,
        market="1x2",
        outcomes=("home", "draw", "away"),
        probabilities=(home, 0.3, 0.7 - home),
        market_probabilities=(0.4, 0.3, 0.3),
        features={"elo_diff": 12.5},
        as_of_position=42,
        input_notification_ids=(7, 42),
    )


def test_the_first_forecast_is_the_only_event_of_a_new_stream() -> None:
    fixture_id = uuid4()
    stream = FixtureForecasts.first(fixture_id, forecast("odds-opened", 0.45))
    events = stream.collect_events()
    assert [type(e) for e in events] == [FixtureForecasts.FirstForecastIssued]
    (first,) = events
    assert isinstance(first, FixtureForecasts.ForecastIssued)  # readers need no second case
    assert first.originator_id == forecasts_id(fixture_id)
    assert first.originator_version == 1
    assert first.edge == pytest.approx((0.05, 0.0, -0.05))
    assert (stream.issued, stream.latest_trigger) == (1, "odds-opened")


def test_a_stored_stream_rebuilds_from_either_opening() -> None:
    app = Application[UUID]()
    fixture_id = uuid4()
    new = FixtureForecasts.first(fixture_id, forecast("odds-opened", 0.45))
    new.issue(forecast("odds-moved", 0.5))
    # how streams began before a first forecast could open them
    old = FixtureForecasts._create(FixtureForecasts.Opened, id=uuid4(), fixture_id=fixture_id)
    old.issue(forecast("odds-opened", 0.41))
    app.save(new, old)

    again: FixtureForecasts = app.repository.get(new.id)
    assert (again.issued, again.latest_trigger) == (2, "odds-moved")
    assert again.latest == pytest.approx((0.5, 0.3, 0.2))
    assert again.version == 2
    before: FixtureForecasts = app.repository.get(old.id)
    assert (before.issued, before.latest_trigger, before.version) == (1, "odds-opened", 2)


def test_a_forecast_needs_one_probability_per_outcome() -> None:
    with pytest.raises(ValueError, match="one probability per outcome"):
        Forecast(**{**vars(forecast("odds-opened", 0.45)), "probabilities": (0.5, 0.5)})


def test_forecasts_stored_before_priors_were_recorded_read_as_market_priors() -> None:
    """Version-1 events (no `prior`) as stored before market-free models existed."""
    app = Application[UUID]()
    stream = FixtureForecasts.first(uuid4(), forecast("odds-opened", 0.45))
    stream.issue(forecast("odds-closing", 0.5))
    old = Application[UUID]()
    for event in stream.collect_events():
        stored = app.mapper.to_stored_event(event)
        state = json.loads(stored.state)
        assert state.pop("class_version") == 2
        assert state.pop("prior") == MARKET_PRIOR
        old.recorder.insert_events([replace(stored, state=json.dumps(state).encode())])

    again: FixtureForecasts = old.repository.get(stream.id)
    assert again.issued == 2
    assert [e.prior for e in old.events.get(stream.id)] == [MARKET_PRIOR, MARKET_PRIOR]


def test_a_market_free_forecast_has_no_market_and_no_edge() -> None:
    free = replace(forecast("kick-off", 0.45), market_probabilities=(), prior=MARKET_FREE_PRIOR)
    stream = FixtureForecasts.first(uuid4(), free)
    (event,) = stream.collect_events()
    assert isinstance(event, FixtureForecasts.ForecastIssued)
    assert (event.prior, event.market_probabilities, event.edge) == (MARKET_FREE_PRIOR, (), ())
    with pytest.raises(ValueError, match="market probability per outcome"):
        replace(forecast("odds-opened", 0.45), market_probabilities=())
    with pytest.raises(ValueError, match="prior"):
        replace(forecast("odds-opened", 0.45), prior="guess")
