"""Drives the analytics projection from the event store into the DuckDB store (and a sink).

One step reads a page of the feed and the forecasts that page makes ready, applies them, then
writes rows, kept facts and both positions in one DuckDB transaction. On request, a rebuild from
zero into fresh tables is stepped between the live steps, read no further than the live tables
stand, and switched in (one DuckDB transaction) once it stands where they do (docs/adr/0035).
With a sink (the Kafka producer in compose), the live batch is published and acknowledged
first: a crash between the two re-publishes the batch on restart, which Pinot's dedup and upsert
tables absorb. A rebuild publishes nothing: Pinot holds those rows already.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
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
from readmodels.analytics.store import AnalyticsStore, AnalyticsTables

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


@dataclass
class _Follower:
    """The projection over one set of tables, and the forecasts it read but cannot apply yet."""

    tables: AnalyticsTables
    projection: AnalyticsProjection
    waiting: deque[tuple[int, Any]] = field(default_factory=deque)
    read_forecasts_to: int = 0

    @classmethod
    def over(cls, tables: AnalyticsTables) -> _Follower:
        projection = AnalyticsProjection(
            tables, fixtures=tables.fixtures(), books=tables.books(), positions=tables.positions()
        )
        return cls(tables, projection, read_forecasts_to=projection.positions[FORECAST_LANE])


@dataclass(frozen=True)
class RebuildProgress:
    """Where a rebuild from zero stands: ``building``, then ``switched`` (its tables are the
    live ones), or ``failed`` / ``abandoned`` (the live tables kept serving, untouched)."""

    state: str
    positions: dict[str, int]
    events: int
    seconds: float
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state != "building"


class RebuildRefused(Exception):
    """A rebuild this runner cannot start now; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Rebuild:
    """A rebuild from zero into fresh tables beside the live ones, stepped between live steps."""

    def __init__(self, tables: AnalyticsTables) -> None:
        self.follower = _Follower.over(tables)
        self.events = 0
        self.started = time.monotonic()

    def progress(self, state: str, error: str | None = None) -> RebuildProgress:
        positions = dict(self.follower.projection.positions)
        seconds = time.monotonic() - self.started
        return RebuildProgress(state, positions, self.events, seconds, error)


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
        self._live = _Follower.over(store.live)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.failed_lane: str | None = None
        """The log whose page it failed on (its written position: the event lies after it)."""
        self._lane = FEED_LANE
        self._guard = threading.Lock()
        self._rebuild_wanted = False
        self._rebuild: _Rebuild | None = None
        self._rebuild_progress: RebuildProgress | None = None

    @property
    def projection(self) -> AnalyticsProjection:
        """The live projection (the one the dashboards' tables are written by)."""
        return self._live.projection

    # -- one step --------------------------------------------------------------------------

    def step(self) -> int:
        """Apply what is there (up to a page of each log) and write it; the events applied."""
        self._lane = FEED_LANE
        applied = self._apply_feed(self._live)
        self._lane = FORECAST_LANE
        applied += self._apply_forecasts(self._live)
        batch = self._live.projection.take_batch()
        if not batch.is_empty():
            if self.sink is not None and batch.row_count:
                self.sink.publish(batch)
            self._live.tables.write(batch)
        return applied

    def _apply_feed(self, follower: _Follower, until: int | None = None) -> int:
        """A page of the feed, up to its head (or to ``until``)."""
        position = follower.projection.positions[FEED_LANE]
        head = self.feeds.recorder.max_notification_id() or 0
        if until is not None:
            head = min(head, until)
        if head <= position:
            return 0
        notifications = self.feeds.recorder.select_notifications(
            start=position + 1, limit=self.page, stop=head, topics=FEED_TOPICS
        )
        decode = self.feeds.mapper.to_domain_event
        for notification in notifications:
            follower.projection.apply_feed(decode(notification), notification.id)
        # A short page read everything up to the head: the events between are not followed.
        reached = head if len(notifications) < self.page else notifications[-1].id
        follower.projection.advance(FEED_LANE, reached)
        return len(notifications)

    def _apply_forecasts(self, follower: _Follower, until: int | None = None) -> int:
        if self.forecasts is None:
            return 0
        if not follower.waiting:
            self._read_forecasts(follower, until)
        projection = follower.projection
        applied = 0
        while follower.waiting and projection.ready_for(follower.waiting[0][1]):
            notification_id, event = follower.waiting.popleft()
            projection.apply_forecast(event, notification_id)
            projection.advance(FORECAST_LANE, notification_id)
            applied += 1
        if (
            not follower.waiting
            and follower.read_forecasts_to > projection.positions[FORECAST_LANE]
        ):
            # only other messages up to where it read: nothing is left to wait for
            projection.advance(FORECAST_LANE, follower.read_forecasts_to)
        return applied

    def _read_forecasts(self, follower: _Follower, until: int | None) -> None:
        assert self.forecasts is not None
        head = self.forecasts.recorder.max_notification_id() or 0
        if until is not None:
            head = min(head, until)
        if head <= follower.read_forecasts_to:
            return
        notifications = self.forecasts.recorder.select_notifications(
            start=follower.read_forecasts_to + 1, limit=self.page, stop=head, topics=FORECAST_TOPICS
        )
        decode = self.forecasts.mapper.to_domain_event
        follower.waiting.extend((n.id, decode(n)) for n in notifications)
        follower.read_forecasts_to = (
            head if len(notifications) < self.page else notifications[-1].id
        )

    # -- a rebuild from zero beside the live tables ----------------------------------------

    def request_rebuild(self) -> None:
        """Have the running projection build its tables again from zero, beside the live ones
        (which keep serving and being written), and switch them in once they stand where the
        live ones do. Follow it with :attr:`rebuild_progress`."""
        with self._guard:
            if self.failure is not None:
                raise RebuildRefused(
                    "analytics-failed",
                    f"the analytics projection stopped on an error ({self.failure!r});"
                    " restart it (it resumes after its last batch) before rebuilding",
                )
            if self._thread is None or not self._thread.is_alive():
                raise RebuildRefused(
                    "analytics-not-running", "the analytics projection is not running"
                )
            if self._rebuild_wanted or self._rebuild is not None:
                raise RebuildRefused("analytics-rebuild-running", "a rebuild is already under way")
            self._rebuild_wanted = True
            self._rebuild_progress = RebuildProgress("building", {}, 0, 0.0)

    @property
    def rebuild_progress(self) -> RebuildProgress | None:
        """The last rebuild's progress (None: none asked since this runner started)."""
        return self._rebuild_progress

    def rebuild(self) -> RebuildProgress:
        """A rebuild from zero here and now, for a runner that is not running (no live step
        meanwhile): the fresh tables are built up to where the live ones stand, then switched
        in; :meth:`catch_up` takes it on from there."""
        if self._thread is not None:
            raise RebuildRefused("analytics-running", "rebuild a running projection by request")
        self._rebuild = _Rebuild(self.store.fresh())
        while (progress := self._rebuild_step()).state == "building":
            pass
        return progress

    def _rebuild_step(self) -> RebuildProgress:
        """A page of each log for the rebuild, read no further than the live tables stand (so
        the live sink has had every row it will hold); the switch once it stands there too."""
        rebuild = self._rebuild
        assert rebuild is not None
        live = dict(self._live.projection.positions)
        follower = rebuild.follower
        try:
            rebuild.events += self._apply_feed(follower, live[FEED_LANE])
            rebuild.events += self._apply_forecasts(follower, live[FORECAST_LANE])
            batch = follower.projection.take_batch()
            if not batch.is_empty():
                follower.tables.write(batch)
            if any(follower.projection.positions[lane] < p for lane, p in live.items()):
                return self._rebuilt(rebuild.progress("building"))
            self.store.switch_in(follower.tables)
        except Exception as exc:  # the live tables keep serving; the fresh ones are dropped
            log.exception("analytics rebuild failed at %s", follower.projection.positions)
            self._rebuild = None
            with contextlib.suppress(Exception):
                self.store.discard(follower.tables)
            return self._rebuilt(rebuild.progress("failed", f"{type(exc).__name__}: {exc}"))
        self._live = follower
        self._rebuild = None
        log.info(
            "analytics rebuilt from zero: %d events, switched in at %s",
            rebuild.events,
            follower.projection.positions,
        )
        return self._rebuilt(rebuild.progress("switched"))

    def _rebuilt(self, progress: RebuildProgress) -> RebuildProgress:
        self._rebuild_progress = progress
        return progress

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
                self._abandon_rebuild("the live projection stopped on an error")
                return
            with self._guard:
                starting, self._rebuild_wanted = self._rebuild_wanted, False
            if starting:
                self._start_rebuild()
            if self._rebuild is not None:
                progress = self._rebuild_step()
                applied += progress.state == "building"
            if not applied:
                self._stopping.wait(self.poll_seconds)
        self._abandon_rebuild("the analytics projection stopped")

    def _start_rebuild(self) -> None:
        try:
            self._rebuild = _Rebuild(self.store.fresh())
        except Exception as exc:
            log.exception("analytics rebuild could not start")
            error = f"{type(exc).__name__}: {exc}"
            self._rebuilt(RebuildProgress("failed", {}, 0, 0.0, error))
            return
        log.info("analytics rebuild from zero started beside the live tables")

    def _abandon_rebuild(self, why: str) -> None:
        """The rebuild's tables are left to be dropped at the next open or rebuild."""
        with self._guard:
            rebuild, self._rebuild, self._rebuild_wanted = self._rebuild, None, False
        if rebuild is not None:
            self._rebuilt(rebuild.progress("abandoned", why))

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
