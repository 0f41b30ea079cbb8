"""Forecast latency: from the trigger's written time to its forecast's save, re-issues aside."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from domain.forecast import FixtureForecasts
from infra.forecasting.latency import ForecastLatency


def _issued(position: int) -> Any:
    event = object.__new__(FixtureForecasts.ForecastIssued)
    object.__setattr__(event, "as_of_position", position)
    return event


def test_each_forecast_counts_from_its_trigger_written_and_old_triggers_are_forgotten() -> None:
    now = [1000.0]
    latency = ForecastLatency(clock=lambda: now[0])
    seen: list[float] = []
    latency.observers.append(seen.append)
    at = datetime.fromtimestamp(999.5, UTC)
    latency.read(7, SimpleNamespace(timestamp=at))
    latency.read(8, SimpleNamespace(timestamp=datetime.fromtimestamp(999.75, UTC)))
    latency.read(9, SimpleNamespace(timestamp=datetime.fromtimestamp(999.9, UTC)))
    latency.stored([_issued(8), object()])
    assert seen == [0.25]
    latency.stored([_issued(7)])  # noted before the forecast of 8 was stored: forgotten
    assert seen == [0.25]
    now[0] = 1001.0
    latency.stored([_issued(9), _issued(9)])
    assert seen[1:] == [1001.0 - 999.9] * 2


def test_nothing_is_noted_while_nobody_observes() -> None:
    latency = ForecastLatency(clock=lambda: 0.0)
    latency.read(1, SimpleNamespace(timestamp=datetime.now(UTC)))
    latency.observers.append(lambda s: None)
    seen: list[float] = []
    latency.observers.append(seen.append)
    latency.stored([_issued(1)])
    assert seen == []
