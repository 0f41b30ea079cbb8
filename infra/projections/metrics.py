"""The projector's metrics through OpenTelemetry: position, lag and state per projection.

Observable gauges read the runner's status when a reader collects; with no meter provider
configured they cost nothing (the API's no-op meter).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from infra.observed import Observed
from projections.runner import ProjectionRunner
from projections.status import ProjectionState, ProjectionStatus

_RUNNERS = Observed[ProjectionRunner]()


def _statuses() -> Iterable[ProjectionStatus]:
    for runner in _RUNNERS:
        yield from runner.statuses.values()


def _positions(_: CallbackOptions) -> Iterable[Observation]:
    for s in _statuses():
        for stream, p in s.streams.items():
            yield Observation(p.position, {"projection": s.name, "stream": stream})


def _lag_events(_: CallbackOptions) -> Iterable[Observation]:
    for s in _statuses():
        for stream, p in s.streams.items():
            yield Observation(p.lag_events, {"projection": s.name, "stream": stream})


def _lag_seconds(_: CallbackOptions) -> Iterable[Observation]:
    now = time.monotonic()
    for s in _statuses():
        yield Observation(s.lag_seconds(now), {"projection": s.name})


def _failed(_: CallbackOptions) -> Iterable[Observation]:
    for s in _statuses():
        yield Observation(int(s.state == ProjectionState.FAILED), {"projection": s.name})


_METER = get_meter("sportcast.projections")
_METER.create_observable_gauge(
    "sportcast.projection.position", [_positions], description="Last notification applied"
)
_METER.create_observable_gauge(
    "sportcast.projection.lag_events", [_lag_events], description="Notifications not applied"
)
_METER.create_observable_gauge(
    "sportcast.projection.lag_seconds", [_lag_seconds], unit="s", description="Time behind"
)
_METER.create_observable_gauge(
    "sportcast.projection.failed", [_failed], description="1 when stopped on an event"
)


@contextmanager
def instrument_projector(runner: ProjectionRunner) -> Iterator[None]:
    """Observe ``runner`` while the block runs (made once per process, the instruments read
    every runner observed: a second registration of a name would keep the first callback)."""
    _RUNNERS.add(runner)
    try:
        yield
    finally:
        _RUNNERS.discard(runner)
