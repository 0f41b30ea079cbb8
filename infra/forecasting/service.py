"""Runs the forecaster: rebuild its state from the feed up to its tracked position, then follow.

The forecaster's events go to its own stream (``FORECASTER_NATS_STREAM``); it reads the feed
application's stream. Exactly-once comes from the process recorder (forecasts and tracking in one
atomic save); the rebuild makes the in-memory feature state match the tracked position.

Following uses two threads (docs/adr/0009). The reader polls the feed for new notifications,
skips those the forecaster does not follow by their topic without decoding them (command
receipts are about half the feed), decodes the rest and queues them. The processor hands what is
queued to :meth:`Forecaster.process` as one unit: one event when the feed is calm; while a
backlog waits or the previous unit is still being stored, up to ``group_events`` events or
``group_seconds``. A unit's forecasts are scored in one model call and stored (one save per
trigger when few, else one atomic save) while the next unit is processed. When nothing arrives
for ``track_every_seconds`` the processor writes the position reached (tracking is otherwise
written only with forecasts and every ``track_every_events`` events).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping

from eventsourcing.persistence import Notification, Tracking

from commands.forecasting.forecaster import (
    Forecaster,
    ForecastModel,
    InPlayForecastModel,
    NbaForecastModels,
)
from commands.ingestion import FeedIngestion
from infra.forecasting.artifacts import archive, content_hash
from infra.forecasting.history import read_events
from infra.forecasting.model_file import LoadedInPlayModel
from infra.forecasting.nba_model_file import LoadedNbaModels
from infra.settings import Settings

log = logging.getLogger("sportcast.forecaster")
PAGE = 1000
POLL_MIN, POLL_MAX = 0.001, 0.016  # seconds between polls of a quiet feed
_QUEUED = 5000  # decoded events the reader may hold ahead of the processor
_END = None

Item = tuple[object | None, Tracking]


def forecaster_env(feeds_env: Mapping[str, str], stream: str) -> dict[str, str]:
    return {**feeds_env, "FORECASTER_NATS_STREAM": stream}


def configured_service(
    settings: Settings, feeds_env: Mapping[str, str], model: ForecastModel | None
) -> ForecasterService:
    """The forecaster as the settings describe it (raises OSError/ValueError on a bad in-play
    or NBA model file).

    Every model file it uses is first stored in the artifact store under its hash (the
    football one too when `model` is the settings' model file), so each forecast's recorded
    artifact can be fetched there. Blocking: call it from a thread, not an event loop."""
    files: list[bytes] = []
    if settings.model_file is not None and model is not None:
        data = settings.model_file.read_bytes()
        if content_hash(data) == model.artifact_hash:
            files.append(data)
    inplay = None
    if settings.inplay_model_file is not None:
        files.append(settings.inplay_model_file.read_bytes())
        inplay = LoadedInPlayModel.from_bytes(files[-1])
    nba = None
    if settings.nba_model_file is not None:
        files.append(settings.nba_model_file.read_bytes())
        nba = LoadedNbaModels.from_bytes(files[-1])
    if files:
        archive(
            feeds_env["NATS_URL"], settings.model_bucket, files, replicas=settings.stream_replicas
        )
    return ForecasterService(
        feeds_env,
        settings.forecaster_stream,
        model,
        inplay_model=inplay,
        nba_models=nba,
        track_every_events=settings.forecaster_track_every_events,
        track_every_seconds=settings.forecaster_track_every_seconds,
        group_events=settings.forecaster_group_events,
    )


class ForecasterService:
    def __init__(
        self,
        feeds_env: Mapping[str, str],
        stream: str,
        model: ForecastModel | None,
        *,
        inplay_model: InPlayForecastModel | None = None,
        nba_models: NbaForecastModels | None = None,
        track_every_events: int = 1000,
        track_every_seconds: float = 1.0,
        group_events: int = 1000,
        group_seconds: float = 0.05,
    ) -> None:
        self.feeds = FeedIngestion(dict(feeds_env))
        self.forecaster = Forecaster(
            forecaster_env(feeds_env, stream),
            model=model,
            inplay_model=inplay_model,
            nba_models=nba_models,
            track_every_events=track_every_events,
            track_every_seconds=track_every_seconds,
            pipeline_saves=True,
        )
        self.group_events, self.group_seconds = group_events, group_seconds
        self._followed = frozenset(self.forecaster.topics)
        self._queue: queue.Queue[Item | None] = queue.Queue(maxsize=_QUEUED)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._reader_done = False
        self.failure: BaseException | None = None

    @property
    def position(self) -> int:
        return self.forecaster.recorder.max_tracking_id(self.feeds.name) or 0

    def rebuild(self) -> int:
        """Learn from every followed feed event up to the tracked position, issuing nothing."""
        position = self.position
        events = read_events(self.feeds, cutoff=position, topics=self.forecaster.topics, page=PAGE)
        for notification_id, event in events:
            self.forecaster.learn(event, notification_id)
        self.forecaster.advance(position)
        return position

    def start(self) -> None:
        position = self.rebuild()
        log.info("forecaster rebuilt its state up to position %s", position)
        self._threads = [
            threading.Thread(
                target=self._read, args=(position,), name="forecaster-reader", daemon=True
            ),
            threading.Thread(target=self._process, name="forecaster", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def item(self, notification: Notification) -> Item:
        """A notification as the processor takes it: unread (None) unless followed."""
        tracking = Tracking(self.feeds.name, notification.id)
        if notification.topic not in self._followed:
            return None, tracking
        return self.feeds.mapper.to_domain_event(notification), tracking

    def _read(self, position: int) -> None:
        """Poll the feed for what follows ``position``: at once while a full page comes back, 1 ms
        after a part page (so pages are not one message each), then after waits doubling up to
        POLL_MAX while it is quiet. (The store's wake-ups would save the polls, but nats-py
        parses every stored message's republished headers, which cost a third of this process's
        CPU at 3,400 messages/s.)"""
        wait = POLL_MIN
        try:
            while not self._stopping.is_set():
                page = self.feeds.recorder.select_notifications(
                    start=position, limit=PAGE, inclusive_of_start=False
                )
                for notification in page:
                    self._put(self.item(notification))
                if len(page) == PAGE:
                    position, wait = page[-1].id, POLL_MIN
                    continue  # more is waiting
                if page:
                    position, wait = page[-1].id, POLL_MIN
                elif wait < POLL_MAX:
                    wait *= 2
                if self._stopping.wait(wait):
                    break
        except BaseException as exc:  # surfaced to the supervisor through .failure
            self._fail(exc)
        finally:
            self._put(None)

    def _put(self, item: Item | None) -> None:
        while not self._stopping.is_set() or item is _END:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if item is _END and self._stopping.is_set():
                    return  # the processor is gone; nobody waits for the end marker

    def _process(self) -> None:
        forecaster = self.forecaster
        try:
            while not self._reader_done and not self._stopping.is_set():
                try:
                    first = self._queue.get(timeout=forecaster.track_every_seconds)
                except queue.Empty:
                    forecaster.flush_tracking()  # the feed is quiet: write the position reached
                    continue
                if first is None:
                    break
                forecaster.process(self._group(first))
        except BaseException as exc:
            self._fail(exc)

    def _group(self, first: Item) -> Iterator[Item]:
        """The first event, then what is queued, within the group's limits; while the previous
        group is still being stored, what arrives meanwhile joins this one."""
        yield first
        deadline = time.monotonic() + self.group_seconds
        count = 1
        while count < self.group_events and time.monotonic() < deadline:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if not self.forecaster.saving:
                    return
                try:
                    item = self._queue.get(timeout=0.001)
                except queue.Empty:
                    continue
            if item is None:
                self._reader_done = True
                return
            count += 1
            yield item

    def _fail(self, exc: BaseException) -> None:
        if not self._stopping.is_set() and self.failure is None:
            self.failure = exc
            log.exception("forecaster stopped on an error", exc_info=exc)

    def stop(self, *, flush: bool = True) -> None:
        """Stop following; ``flush``: write the position reached (a restart re-learns less)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(10)
        if flush and self.failure is None:
            try:
                self.forecaster.flush_tracking()
            except Exception:
                log.exception("could not write the forecaster's position on stop")
        try:
            self.forecaster.close()  # waits for a save still in flight
        except Exception:
            log.exception("the forecaster's last save failed; a restart redoes it")
        self.feeds.close()
