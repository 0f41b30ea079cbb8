"""Running the feed-health process: the projection runner plus a periodic stale-odds check."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID

from eventsourcing.projection import EventSourcedProjectionRunner
from opentelemetry import metrics

from commands.feed_health import DEFAULT_STALE_AFTER, DEFAULT_WINDOW, FeedHealth
from commands.ingestion import FeedIngestion
from domain.feed_health import FeedPulse
from infra.following import FollowerFailure, ResumingRunner

log = logging.getLogger("sportcast.feed_health")

DEFAULT_STREAM = "SPORTCAST_FEED_HEALTH"
DEFAULT_INTERVAL_SECONDS = 30.0
STREAM_KEY = f"{FeedHealth.name.upper()}_NATS_STREAM"
"""eventsourcing reads keys prefixed with the application's name first (``Environment.get``)."""

Runner = EventSourcedProjectionRunner[FeedIngestion, FeedHealth]


_STALE_ALERTS = metrics.get_meter("sportcast.feed_health").create_counter(
    "sportcast.feeds.stale_alerts", description="Fixtures newly reported with stale odds"
)


class FeedHealthService:
    """Follows the feed in the background and checks for stale odds every ``interval`` s.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        window: timedelta = DEFAULT_WINDOW,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_seconds: float = 1.0,
    ) -> None:
        if STREAM_KEY not in env:
            raise ValueError(f"the feed-health process needs its own stream: set {STREAM_KEY}")
        self._env = env
        self.stale_after = stale_after
        self.window = window
        self.interval = interval
        self._clock = clock
        self._following = ResumingRunner(
            "feed health", self._open_runner, self._position, retry=retry_seconds
        )
        self._stopping = threading.Event()
        self._checker: threading.Thread | None = None

    @property
    def _runner(self) -> Runner | None:
        runner = self._following.runner
        assert runner is None or isinstance(runner, EventSourcedProjectionRunner)
        return runner

    @property
    def failure(self) -> FollowerFailure | None:
        """Why following stopped, and where, while it waits to resume (docs/adr/0017)."""
        return self._following.failure

    @property
    def projection(self) -> FeedHealth:
        if self._runner is None:
            raise ConnectionError("the feed-health process is not running")
        return self._runner.projection

    def _open_runner(self) -> Runner:
        runner: Runner = EventSourcedProjectionRunner(
            application_class=FeedIngestion, projection_class=FeedHealth, env=self._env
        )
        return runner.__enter__()

    def _position(self) -> int:
        return self.projection.recorder.max_tracking_id(FeedIngestion.name) or 0

    def start(self) -> None:
        self._following.start()
        self._stopping.clear()
        self._checker = threading.Thread(
            target=self._check_periodically, name="feed-health-checker", daemon=True
        )
        self._checker.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._checker is not None:
            self._checker.join()
            self._checker = None
        self._following.stop()  # a failure is recorded in .failure, not raised

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.stop()

    def check(self, now: datetime | None = None) -> list[UUID]:
        """One check now; returns the fixtures newly reported stale."""
        alerts = self.projection.check(
            now or self._clock(), window=self.window, stale_after=self.stale_after
        )
        _STALE_ALERTS.add(len(alerts))
        for alert in alerts:
            log.warning(
                "odds went stale: fixture %s (%s) kicks off %s, last quote %s",
                alert.fixture_id,
                alert.competition,
                alert.kickoff.isoformat(),
                alert.last_quote_at.isoformat() if alert.last_quote_at else "never",
            )
        return [alert.fixture_id for alert in alerts]

    def caught_up(self) -> bool:
        """True when no followed event of the feed is waiting to be processed.

        A check while a backlog is processed (e.g. after downtime) would flag fixtures whose
        newer quotes are still in the backlog; the periodic check waits for this instead.
        """
        if self._runner is None:
            return False
        feed = self._runner.app
        position = self.projection.recorder.max_tracking_id(feed.name) or 0
        waiting = feed.recorder.select_notifications(
            start=position + 1, limit=1, topics=FeedHealth.topics
        )
        return not waiting

    def _check_periodically(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                if not self.caught_up():
                    log.info("feed health: still catching up with the feed; check skipped")
                    continue
                self.check()
            except Exception:
                # A store outage must not end the timer; the next tick tries again.
                log.exception("feed health: stale-odds check failed")

    async def pulses(self, now: datetime) -> list[FeedPulse]:
        """The gateway's port (gateway.feed_health.FeedHealthReader)."""
        return await asyncio.to_thread(self.projection.feed_pulses, now)
