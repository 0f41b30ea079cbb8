"""The checkpointer's metrics through OpenTelemetry: checkpoints written and failed, the position
the last one covers and how long ago each stream was last sealed up to its head, per stream.

Made once per process (a second registration of a name would keep the first callback) and read
from every running checkpointer; with no meter provider configured they cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from infra.audit.checkpointer import Checkpointer, StreamSeals
from infra.observed import Observed

_CHECKPOINTERS = Observed[Checkpointer](lambda c: not c.stopped)


def _seals() -> Iterator[tuple[str, StreamSeals]]:
    for checkpointer in _CHECKPOINTERS:
        yield from checkpointer.seals.items()


def _writes(_: CallbackOptions) -> Iterable[Observation]:
    for stream, seals in _seals():
        yield Observation(seals.writes, {"stream": stream})


def _failures(_: CallbackOptions) -> Iterable[Observation]:
    for stream, seals in _seals():
        yield Observation(seals.failures, {"stream": stream})


def _position(_: CallbackOptions) -> Iterable[Observation]:
    for stream, seals in _seals():
        if seals.position:
            yield Observation(seals.position, {"stream": stream})


def _age(_: CallbackOptions) -> Iterable[Observation]:
    now = time.time()
    for stream, seals in _seals():
        if seals.sealed_at is not None:
            yield Observation(max(now - seals.sealed_at, 0.0), {"stream": stream})


_METER = get_meter("sportcast.checkpointer")
_METER.create_observable_counter(
    "sportcast.checkpoint.writes", [_writes], description="Signed checkpoints written"
)
_METER.create_observable_counter(
    "sportcast.checkpoint.failures",
    [_failures],
    description="Seal rounds in which a stream could not be checkpointed",
)
_METER.create_observable_gauge(
    "sportcast.checkpoint.position",
    [_position],
    description="The stream position the last checkpoint written covers",
)
_METER.create_observable_gauge(
    "sportcast.checkpoint.age_seconds",
    [_age],
    unit="s",
    description="Since the stream was last sealed up to its head (new events stay unsealed)",
)


def instrument_checkpointer(checkpointer: Checkpointer) -> None:
    """Observe ``checkpointer`` until it stops."""
    _CHECKPOINTERS.add(checkpointer)
