"""How the forecaster splits a unit's forecasts into saves (in memory; the store is not needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Tracking

from commands.forecasting.forecaster import Forecaster
from domain.forecast import FixtureForecasts, Forecast


def forecast(position: int) -> Forecast:
    return Forecast(
        kickoff=datetime(2022, 8, 6, 14, tzinfo=UTC),
        trigger="odds-moved",
        model_id="m",
        artifact_hash="h",
        market="1x2",
        outcomes=("home", "draw", "away"),
        probabilities=(0.5, 0.3, 0.2),
        market_probabilities=(0.5, 0.3, 0.2),
        features={},
        as_of_position=position,
        input_notification_ids=(position,),
    )


def unit(*forecasts: tuple[UUID, int]) -> ProcessingEvent[UUID]:
    """Forecasts as issue_drafts hands them over: stream by stream, not in trigger order."""
    streams: dict[UUID, FixtureForecasts] = {}
    for fixture, position in forecasts:
        if fixture in streams:
            streams[fixture].issue(forecast(position))
        else:
            streams[fixture] = FixtureForecasts.first(fixture, forecast(position))
    processing = ProcessingEvent[UUID]()
    for stream in streams.values():
        processing.events.extend(stream.collect_events())
        processing.aggregates[stream.id] = stream
    return processing


def test_few_forecasts_are_one_save_each_in_trigger_order_even_across_streams() -> None:
    a, b = uuid4(), uuid4()
    forecaster = Forecaster(single_saves_up_to=4)
    saves = forecaster._saves(unit((a, 243), (b, 250), (a, 253)), Tracking("feeds", 260))
    assert [s.tracking.notification_id for s in saves if s.tracking] == [243, 250, 253]
    assert [[e.originator_version for e in s.events] for s in saves] == [[1], [1], [2]]


def test_many_forecasts_are_one_atomic_save_in_trigger_order_tracking_the_last_event() -> None:
    a, b = uuid4(), uuid4()
    forecaster = Forecaster(single_saves_up_to=2)
    (save,) = forecaster._saves(unit((a, 243), (b, 250), (a, 253)), Tracking("feeds", 260))
    assert save.tracking is not None
    assert save.tracking.notification_id == 260
    positions = [e.as_of_position for e in save.events]  # type: ignore[attr-defined]
    assert positions == [243, 250, 253]
