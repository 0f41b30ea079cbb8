"""Drives the analytics projection from the event store into the DuckDB store (and a sink).

One step reads a page of the feed and the forecasts that page makes ready, applies them, then
writes rows, kept facts and both positions in one DuckDB transaction. With a sink (the Kafka
producer in compose), the batch is published and acknowledged first: a crash between the two
re-publishes the batch on restart, which Pinot's dedup and upsert tables absorb.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from projections.analytics.projection import (
    FEED_EVENTS,
    FEED_LANE,
    FORECAST_EVENTS,
    FORECAST_LANE,
    AnalyticsProjection,
)
from readmodels.analytics.batch import AnalyticsBatch
from readmodels.analytics.store import AnalyticsStore

log = logging.getLogger("sportcast.analytics")

FEED_TOPICS = tuple(get_topic(cls) for cls in FEED_EVENTS)
FORECAST_TOPICS = tuple(get_topic(cls) for cls in FORECAST_EVENTS)


class RowSink(Protocol):
    def publish(self, batch: AnalyticsBatch) -> None:
        """Return once every row of ``batch`` is acknowledged; raise otherwise."""


@dataclass(frozen=True)
class AnalyticsStatus:
    state: str  # "running", "stopped" or "failed"
    positions: dict[str, int]
    heads: dict[str, int]
    error: str | None

    @property
    def lag_events(self) -> dict[str, int]:
        return {lane: max(0, self.heads[lane] - self.positions.get(lane, 0)) for lane in self.heads}


class AnalyticsRunner:
    def __init__(
        self,
        feeds: Application[UUID],
        forecasts: Application[UUID] | None,
        store: AnalyticsStore,
        *,
        sink: RowSink | None = None,
        page: int = 5000,
        poll_seconds: float = 0.1,
    ) -> None:
        self.feeds = feeds
        self.forecasts = forecasts
        self.store = store
        self.sink = sink
        self.page = page
        self.poll_seconds = poll_seconds
        self.projection = AnalyticsProjection(
            store, fixtures=store.fixtures(), books=store.books(), positions=store.positions()
        )
        self._waiting: deque[tuple[int, Any]] = deque()  # forecasts read, not yet ready
        self._read_forecasts_to = self.projection.positions[FORECAST_LANE]
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.failed_lane: str | None = None
        """The log whose page it failed on (its written position: the event lies after it)."""
        self._lane = FEED_LANE

    # -- one step --------------------------------------------------------------------------

    def step(self) -> int:
        """Apply what is there (up to a page of each log) and write it; the events applied."""
        self._lane = FEED_LANE
        applied = self._apply_feed()
        self._lane = FORECAST_LANE
        applied += self._apply_forecasts()
        batch = self.projection.take_batch()
        if not batch.is_empty():
            if self.sink is not None and batch.row_count:
                self.sink.publish(batch)
            self.store.write(batch)
        return applied

    def _apply_feed(self) -> int:
        position = self.projection.positions[FEED_LANE]
        head = self.feeds.recorder.max_notification_id() or 0
        if head <= position:
            return 0
        notifications = self.feeds.recorder.select_notifications(
            start=position + 1, limit=self.page, stop=head, topics=FEED_TOPICS
        )
        decode = self.feeds.mapper.to_domain_event
        for notification in notifications:
            self.projection.apply_feed(decode(notification), notification.id)
        # A short page read everything up to the head: the events between are not followed.
        reached = head if len(notifications) < self.page else notifications[-1].id
        self.projection.advance(FEED_LANE, reached)
        return len(notifications)

    def _apply_forecasts(self) -> int:
        if self.forecasts is None:
            return 0
        if not self._waiting:
            self._read_forecasts()
        applied = 0
        while self._waiting and self.projection.ready_for(self._waiting[0][1]):
            notification_id, event = self._waiting.popleft()
            self.projection.apply_forecast(event, notification_id)
            self.projection.advance(FORECAST_LANE, notification_id)
            applied += 1
        if not self._waiting and self._read_forecasts_to > self.projection.positions[FORECAST_LANE]:
            # only other messages up to where it read: nothing is left to wait for
            self.projection.advance(FORECAST_LANE, self._read_forecasts_to)
        return applied

    def _read_forecasts(self) -> None:
        assert self.forecasts is not None
        head = self.forecasts.recorder.max_notification_id() or 0
        if head <= self._read_forecasts_to:
            return
        notifications = self.forecasts.recorder.select_notifications(
            start=self._read_forecasts_to + 1, limit=self.page, stop=head, topics=FORECAST_TOPICS
        )
        decode = self.forecasts.mapper.to_domain_event
        self._waiting.extend((n.id, decode(n)) for n in notifications)
        self._read_forecasts_to = head if len(notifications) < self.page else notifications[-1].id

    def catch_up(self) -> int:
        """Step until a step applies nothing; the events applied."""
        total = 0
        while applied := self.step():
            total += applied
        return total

    # -- in the background -----------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="analytics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                applied = self.step()
            except Exception as exc:  # stops with the error and the position (status shows both)
                self.failed_lane = self._lane
                self.failure = exc
                log.exception("analytics projection stopped at %s", self.projection.positions)
                return
            if not applied:
                self._stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def status(self) -> AnalyticsStatus:
        heads = {FEED_LANE: self.feeds.recorder.max_notification_id() or 0}
        if self.forecasts is not None:
            heads[FORECAST_LANE] = self.forecasts.recorder.max_notification_id() or 0
        if self.failure is not None:
            state = "failed"
        elif self._thread is not None and self._thread.is_alive():
            state = "running"
        else:
            state = "stopped"
        error = None if self.failure is None else f"{type(self.failure).__name__}: {self.failure}"
        return AnalyticsStatus(state, dict(self.store.positions()), heads, error)

    def lag_seconds(self, now: datetime) -> float:
        """Age of the oldest event not written yet in either log (0 when both are caught up):
        the stored time of the first event after each written position."""
        written = self.store.positions()
        ages = [0.0]
        for lane, app in ((FEED_LANE, self.feeds), (FORECAST_LANE, self.forecasts)):
            if app is None:
                continue
            waiting = app.recorder.select_notifications(start=written.get(lane, 0) + 1, limit=1)
            if waiting:
                event = app.mapper.to_domain_event(waiting[0])
                stored: datetime = getattr(event, "timestamp", now)  # every Aggregate.Event has it
                ages.append((now - stored).total_seconds())
        return max(ages)

    def wait_until(self, positions: dict[str, int], *, timeout: float) -> bool:
        """True once the written positions reach ``positions`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        while True:
            written = self.store.positions()
            if all(written.get(lane, 0) >= p for lane, p in positions.items()):
                return True
            if self.failure is not None or time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
