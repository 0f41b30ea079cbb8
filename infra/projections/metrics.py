"""The projector's metrics through OpenTelemetry: position, lag and state per projection.

Observable gauges read the runner's status when a reader collects; with no meter provider
configured they cost nothing (the API's no-op meter).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from projections.runner import ProjectionRunner
from projections.status import ProjectionState


def instrument_projector(runner: ProjectionRunner) -> None:
    meter = get_meter("sportcast.projections")

    def positions(_: CallbackOptions) -> Iterable[Observation]:
        for s in runner.statuses.values():
            for stream, p in s.streams.items():
                yield Observation(p.position, {"projection": s.name, "stream": stream})

    def lag_events(_: CallbackOptions) -> Iterable[Observation]:
        for s in runner.statuses.values():
            for stream, p in s.streams.items():
                yield Observation(p.lag_events, {"projection": s.name, "stream": stream})

    def lag_seconds(_: CallbackOptions) -> Iterable[Observation]:
        now = time.monotonic()
        for s in runner.statuses.values():
            yield Observation(s.lag_seconds(now), {"projection": s.name})

    def failed(_: CallbackOptions) -> Iterable[Observation]:
        for s in runner.statuses.values():
            yield Observation(int(s.state == ProjectionState.FAILED), {"projection": s.name})

    meter.create_observable_gauge(
        "sportcast.projection.position", [positions], description="Last notification applied"
    )
    meter.create_observable_gauge(
        "sportcast.projection.lag_events", [lag_events], description="Notifications not applied"
    )
    meter.create_observable_gauge(
        "sportcast.projection.lag_seconds", [lag_seconds], unit="s", description="Time behind"
    )
    meter.create_observable_gauge(
        "sportcast.projection.failed", [failed], description="1 when stopped on an event"
    )
