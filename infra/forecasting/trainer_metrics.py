"""The scheduled trainer's metrics through OpenTelemetry, per model kind: training runs by
outcome (promoted, kept, skipped, failed), the last run's duration, and when a model was last
trained (and how long ago).

Made once per process (a second registration of a name would keep the first callback) and read
from every running trainer; with no meter provider configured they cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from infra.forecasting.champion import KindRuns, ScheduledTrainer
from infra.observed import Observed

_TRAINERS = Observed[ScheduledTrainer](lambda t: not t.stopped)


def _kinds() -> Iterator[tuple[str, KindRuns]]:
    for trainer in _TRAINERS:
        yield from list(trainer.runs.items())


def _runs(_: CallbackOptions) -> Iterable[Observation]:
    for kind, runs in _kinds():
        for outcome, n in list(runs.runs.items()):
            yield Observation(n, {"kind": kind, "outcome": outcome})


def _duration(_: CallbackOptions) -> Iterable[Observation]:
    for kind, runs in _kinds():
        if runs.last_duration is not None:
            yield Observation(runs.last_duration, {"kind": kind})


def _last_success(_: CallbackOptions) -> Iterable[Observation]:
    for kind, runs in _kinds():
        if runs.last_success is not None:
            yield Observation(runs.last_success, {"kind": kind})


def _last_success_age(_: CallbackOptions) -> Iterable[Observation]:
    now = time.time()
    for kind, runs in _kinds():
        if runs.last_success is not None:
            yield Observation(max(now - runs.last_success, 0.0), {"kind": kind})


_METER = get_meter("sportcast.trainer")
_METER.create_observable_counter(
    "sportcast.trainer.runs",
    [_runs],
    description="Training runs by kind and outcome (promoted, kept, skipped, failed)",
)
_METER.create_observable_gauge(
    "sportcast.trainer.last_duration_seconds",
    [_duration],
    unit="s",
    description="How long the kind's last training run took",
)
_METER.create_observable_gauge(
    "sportcast.trainer.last_success_timestamp_seconds",
    [_last_success],
    unit="s",
    description="When (Unix time) a model of the kind was last trained and registered",
)
_METER.create_observable_gauge(
    "sportcast.trainer.last_success_age_seconds",
    [_last_success_age],
    unit="s",
    description="Since a model of the kind was last trained and registered",
)


def instrument_trainer(trainer: ScheduledTrainer) -> None:
    """Observe ``trainer`` until it stops."""
    _TRAINERS.add(trainer)
