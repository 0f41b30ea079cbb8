"""Runs the forecaster: rebuild its state from the feed up to its tracked position, then follow.

The forecaster's events go to its own stream (``FORECASTER_NATS_STREAM``); it reads the feed
application's stream. Exactly-once comes from the process recorder (events and tracking in one
atomic save); the rebuild makes the in-memory feature state match the tracked position.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from eventsourcing.persistence import Tracking

from commands.forecasting.forecaster import Forecaster, ForecastModel
from commands.ingestion import FeedIngestion

log = logging.getLogger("sportcast.forecaster")
PAGE = 1000


def forecaster_env(feeds_env: Mapping[str, str], stream: str) -> dict[str, str]:
    return {**feeds_env, "FORECASTER_NATS_STREAM": stream}


class ForecasterService:
    def __init__(
        self, feeds_env: Mapping[str, str], stream: str, model: ForecastModel | None
    ) -> None:
        self.feeds = FeedIngestion(dict(feeds_env))
        self.forecaster = Forecaster(forecaster_env(feeds_env, stream), model=model)
        self._thread: threading.Thread | None = None
        self._subscription: object | None = None
        self._stopping = threading.Event()
        self.failure: BaseException | None = None

    @property
    def position(self) -> int:
        return self.forecaster.recorder.max_tracking_id(self.feeds.name) or 0

    def rebuild(self) -> int:
        """Learn from every feed event up to the tracked position, issuing nothing."""
        position = self.position
        start = 1
        while start <= position:
            page = self.feeds.recorder.select_notifications(
                start=start, limit=PAGE, stop=position, inclusive_of_start=True
            )
            if not page:
                break
            for notification in page:
                event = self.feeds.mapper.to_domain_event(notification)
                self.forecaster.learn(event, notification.id)
            start = page[-1].id + 1
        return position

    def start(self) -> None:
        position = self.rebuild()
        log.info("forecaster rebuilt its state up to position %s", position)
        self._thread = threading.Thread(
            target=self._follow, args=(position,), name="forecaster", daemon=True
        )
        self._thread.start()

    def _follow(self, position: int) -> None:
        try:
            with self.feeds.recorder.subscribe(gt=position) as subscription:
                self._subscription = subscription
                for notification in subscription:
                    if self._stopping.is_set():
                        break
                    event = self.feeds.mapper.to_domain_event(notification)
                    tracking = Tracking(self.feeds.name, notification.id)
                    self.forecaster.process_event(event, tracking)
        except BaseException as exc:  # surfaced to the supervisor through .failure
            if not self._stopping.is_set():
                self.failure = exc
                log.exception("forecaster stopped on an error")

    def stop(self) -> None:
        self._stopping.set()
        stop = getattr(self._subscription, "stop", None)
        if stop is not None:
            stop()
        if self._thread is not None:
            self._thread.join(10)
        self.forecaster.close()
        self.feeds.close()
