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
written only with forecasts and every ``track_every_events`` events); quiet for
``FIT_WHEN_QUIET`` after results, it fits their leagues' Poisson strengths.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping

from eventsourcing.persistence import Notification, Tracking
from opentelemetry.trace import INVALID_SPAN, Span

from commands.following import FollowedEventFailed
from commands.forecasting.forecaster import (
    Forecaster,
    ForecastModel,
    InPlayForecastModel,
    NbaForecastModels,
)
from commands.ingestion import FeedIngestion
from infra.eventstore.records import TracedNotification
from infra.following import FollowerFailure, ResumingRunner
from infra.forecasting.artifacts import archive, content_hash
from infra.forecasting.history import read_events
from infra.forecasting.latency import ForecastLatency
from infra.forecasting.model_file import LoadedInPlayModel
from infra.forecasting.nba_model_file import LoadedNbaModels
from infra.forecasting.serving import servable_inplay
from infra.forecasting.tracing import processing_span, span_context_of
from infra.settings import Settings

log = logging.getLogger("sportcast.forecaster")
PAGE = 1000
POLL_MIN, POLL_MAX = 0.001, 0.016  # seconds between polls of a quiet feed
# Quiet this long after results, the processor fits their leagues (Forecaster.refresh_fits):
# in a burst (a matchday's results, a replay) a league is fitted once, not once per result.
FIT_WHEN_QUIET = 0.02
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
        inplay = servable_inplay(LoadedInPlayModel.from_bytes(files[-1]))
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
    """The forecaster following the feed; one failed event stops it there, never for good.

    Each attempt (:class:`_Following`: the reader and processor threads) starts from the
    tracked position with the state learnt again up to it; a failed attempt is recorded with
    the event's position and a new one opened after a back-off (:class:`ResumingRunner`,
    docs/adr/0017), so nothing after the failed event is skipped and it resumes by itself once
    the cause is gone (an outage healed, a fix deployed)."""

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
        retry_seconds: float = 1.0,
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
            fit_when_quiet=True,
        )
        self.group_events, self.group_seconds = group_events, group_seconds
        self._followed = frozenset(self.forecaster.topics)
        self._following = ResumingRunner(
            "forecaster", self._follow, lambda: self.position, retry=retry_seconds
        )
        self.flush_on_stop = True
        # Trace context of queued feed events stored inside a trace, by position (popped as
        # the processor takes them): the forecaster's span continues each one's trace.
        self.traces: dict[int, dict[str, str]] = {}
        self.latency = ForecastLatency()
        self.forecaster.on_stored = self.latency.stored
        self.processed = 0
        """The last feed position handed to the forecaster (what its lag is counted from)."""
        self.stopped = False

    @property
    def position(self) -> int:
        return self.forecaster.recorder.max_tracking_id(self.feeds.name) or 0

    @property
    def failure(self) -> FollowerFailure | None:
        """Why following stopped, and where, while it waits to resume (docs/adr/0017)."""
        return self._following.failure

    @property
    def resumed(self) -> int:
        """Attempts opened after a failure."""
        return self._following.resumed

    def rebuild(self) -> int:
        """Learn from every followed feed event up to the tracked position, issuing nothing."""
        position = self.position
        events = read_events(self.feeds, cutoff=position, topics=self.forecaster.topics, page=PAGE)
        self.forecaster.relearn(events, position)
        return position

    def start(self) -> None:
        self._following.start()

    def _follow(self) -> _Following:
        position = self.rebuild()
        self.processed = position
        log.info("forecaster rebuilt its state up to position %s", position)
        following = _Following(self, position)
        following.start()
        return following

    def item(self, notification: Notification) -> Item:
        """A notification as the processor takes it: unread (None) unless followed."""
        tracking = Tracking(self.feeds.name, notification.id)
        if notification.topic not in self._followed:
            return None, tracking
        if isinstance(notification, TracedNotification):
            self.traces[notification.id] = notification.trace
        try:
            event = self.feeds.mapper.to_domain_event(notification)
        except Exception as exc:  # e.g. no upcaster for an old event: say which
            raise FollowedEventFailed(notification.id, notification.topic, exc) from exc
        self.latency.read(notification.id, event)
        return event, tracking

    def stop(self, *, flush: bool = True) -> None:
        """Stop following; ``flush``: write the position reached (a restart re-learns less)."""
        self.flush_on_stop = flush
        self.stopped = True
        self._following.stop()  # a failure is recorded in .failure, not raised
        try:
            self.forecaster.close()  # waits for a save still in flight
        except Exception:
            log.exception("the forecaster's last save failed; a restart redoes it")
        self.feeds.close()


class _Following:
    """One attempt at following the feed from ``position``: two threads (module docstring).
    Shaped as eventsourcing's projection runner is, for :class:`ResumingRunner`."""

    def __init__(self, service: ForecasterService, position: int) -> None:
        self.service = service
        self.forecaster = service.forecaster
        self.feeds = service.feeds
        self.position = position
        self._queue: queue.Queue[Item | None] = queue.Queue(maxsize=_QUEUED)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._failed = threading.Event()
        self._reader_done = False
        self.error: BaseException | None = None
        self._reported = False
        self._span: Span = INVALID_SPAN  # the unit's span (links to its other events' traces)
        self._last_taken = position

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._read, name="forecaster-reader", daemon=True),
            threading.Thread(target=self._process, name="forecaster", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def run_forever(self, timeout: float | None = None) -> None:
        """Raise what stopped this attempt, if anything did within ``timeout``."""
        if self._failed.wait(timeout) and self.error is not None:
            self._reported = True
            raise self.error

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(10)
        if self.error is not None:
            # What this attempt stored must be tracked before the next one reads the position.
            with contextlib.suppress(Exception):  # a second failure: the first is recorded
                self.forecaster.settle()
            if not self._reported:
                raise self.error  # failed as it was stopped: recorded all the same
            return
        self.forecaster.settle()  # raised: the resuming runner records it
        if self.service.flush_on_stop:
            try:
                self.forecaster.flush_tracking()
            except Exception:
                log.exception("could not write the forecaster's position on stop")

    def _read(self) -> None:
        """Poll the feed for what follows ``position``: at once while a full page comes back, 1 ms
        after a part page (so pages are not one message each), then after waits doubling up to
        POLL_MAX while it is quiet. (The store's wake-ups would save the polls, but nats-py
        parses every stored message's republished headers, which cost a third of this process's
        CPU at 3,400 messages/s.)"""
        wait, position = POLL_MIN, self.position
        try:
            while not self._stopping.is_set():
                page = self.feeds.recorder.select_notifications(
                    start=position, limit=PAGE, inclusive_of_start=False
                )
                for notification in page:
                    self._put(self.service.item(notification))
                if len(page) == PAGE:
                    position, wait = page[-1].id, POLL_MIN
                    continue  # more is waiting
                if page:
                    position, wait = page[-1].id, POLL_MIN
                elif wait < POLL_MAX:
                    wait *= 2
                if self._stopping.wait(wait):
                    break
        except BaseException as exc:  # the resuming runner records it and opens a new attempt
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
                fitting = forecaster.fits_due
                quiet = FIT_WHEN_QUIET if fitting else forecaster.track_every_seconds
                try:
                    first = self._queue.get(timeout=quiet)
                except queue.Empty:
                    if fitting:
                        forecaster.refresh_fits()
                    else:  # the feed is quiet: write the position reached
                        forecaster.flush_tracking()
                    continue
                if first is None:
                    break
                trace = self.service.traces.pop(first[1].notification_id, None)
                with processing_span(trace) as span:
                    self._span = span
                    forecaster.process(self._group(first))
                self.service.processed = self._last_taken
        except BaseException as exc:
            self._fail(exc)

    def _group(self, first: Item) -> Iterator[Item]:
        """The first event, then what is queued, within the group's limits; while the previous
        group is still being stored, what arrives meanwhile joins this one."""
        self._last_taken = first[1].notification_id
        yield first
        deadline = time.monotonic() + self.service.group_seconds
        count = 1
        while count < self.service.group_events and time.monotonic() < deadline:
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
            traces = self.service.traces
            trace = traces.pop(item[1].notification_id, None) if traces else None
            if trace:  # a unit has one parent: the others' traces are linked to it
                self._span.add_link(span_context_of(trace))
            self._last_taken = item[1].notification_id
            yield item

    def _fail(self, exc: BaseException) -> None:
        if not self._stopping.is_set() and self.error is None:
            self.error = exc
            self._stopping.set()  # the other thread stops too: this attempt is over
            self._failed.set()
