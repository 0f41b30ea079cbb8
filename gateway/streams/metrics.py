"""The streams' OpenTelemetry instruments: open connections per endpoint, ends by reason, resets.

Counted per connection and per end, never per frame (the hot path stays free of calls); the
delivery latency once per live event.
"""

from __future__ import annotations

import time
from collections import Counter

from opentelemetry.metrics import Meter

DELIVERY_BUCKETS = [
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    30.0,
]
"""Seconds (the SDK's default histogram bounds are for milliseconds)."""


class StreamMetrics:
    """Also keeps its own tallies, which the hub's stats and the tests read."""

    def __init__(self, meter: Meter | None) -> None:
        self.open: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.resets: Counter[str] = Counter()
        self._connections = self._ends = self._resets = None
        self._delivery = None
        if meter is not None:
            self._connections = meter.create_up_down_counter(
                "sportcast.sse.connections", description="Open SSE connections"
            )
            self._ends = meter.create_counter(
                "sportcast.sse.disconnects", description="SSE streams ended, by reason"
            )
            self._resets = meter.create_counter(
                "sportcast.sse.resets", description="Resumes answered with event: reset"
            )
            self._delivery = meter.create_histogram(
                "sportcast.sse.delivery_latency",
                unit="s",
                description="From a live event stored to its frame handed to the SSE"
                " subscribers (once per event, by log)",
                explicit_bucket_boundaries_advisory=DELIVERY_BUCKETS,
            )

    def connected(self, endpoint: str) -> None:
        self.open[endpoint] += 1
        if self._connections is not None:
            self._connections.add(1, {"endpoint": endpoint})

    def disconnected(self, endpoint: str, reason: str) -> None:
        if reason != "stuck":
            self.open[endpoint] -= 1
            if self._connections is not None:
                self._connections.add(-1, {"endpoint": endpoint})
        self.ended[reason] += 1
        if self._ends is not None:
            self._ends.add(1, {"endpoint": endpoint, "reason": reason})

    def reset(self, endpoint: str, reason: str) -> None:
        self.resets[reason] += 1
        if self._resets is not None:
            self._resets.add(1, {"endpoint": endpoint, "reason": reason})

    def delivered(self, log: str, stored_ns: int) -> None:
        """A live event fanned out now, stored at ``stored_ns`` (ns since the epoch)."""
        if self._delivery is not None:
            self._delivery.record(max(time.time_ns() - stored_ns, 0) / 1e9, {"log": log})
