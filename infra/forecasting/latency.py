"""Forecast latency: from a feed event written (the time its writer gave it, just before the
append) to the forecast it triggered stored (when the forecaster's save returned).

The reader notes each followed event's time by position; each stored forecast looks its trigger
(``as_of_position``) up. Re-issues after a promotion cite old triggers long forgotten and are
not counted: they are not a latency. What was noted is forgotten once a later trigger's
forecast is stored, and kept to a bound in any case.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

from domain.forecast import FixtureForecasts

KEPT = 50_000  # events noted at most (a backlog read ahead of the processor)


class ForecastLatency:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._written: OrderedDict[int, float] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock or time.time
        self.observers: list[Callable[[float], None]] = []

    def read(self, position: int, event: object) -> None:
        """A followed feed event read at ``position``."""
        written = getattr(event, "timestamp", None)
        if not isinstance(written, datetime) or not self.observers:
            return
        with self._lock:
            self._written[position] = written.timestamp()
            if len(self._written) > KEPT:
                self._written.popitem(last=False)

    def stored(self, events: Sequence[object]) -> None:
        """One save of the forecaster's stored (``on_stored``)."""
        if not self.observers:
            return
        now = self._clock()
        latencies = []
        with self._lock:
            last = 0
            for event in events:
                if isinstance(event, FixtureForecasts.ForecastIssued):
                    written = self._written.get(event.as_of_position)
                    if written is not None:
                        latencies.append(max(now - written, 0.0))
                    last = max(last, event.as_of_position)
            while self._written and next(iter(self._written)) < last:
                self._written.popitem(last=False)
        for seconds in latencies:
            for observe in self.observers:
                observe(seconds)
