"""The feed-health process: follows the feed's fixtures and quotes, flags odds that went stale.

An eventsourcing :class:`EventSourcedProjection`: its ``policy`` turns each followed event into
events of its own aggregates (domain/feed_health.py), stored in its own stream together with
the position of the followed event, so each event is applied exactly once across restarts.
``check(now)`` is the other entry, called on a timer: it reports every open watch whose odds
went stale. Run it with ``EventSourcedProjectionRunner`` (see infra/feed_health.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Tracking
from eventsourcing.projection import EventSourcedProjection
from eventsourcing.utils import get_topic

from commands.following import FollowedEventFailed
from commands.transcodings import register_domain_transcodings
from domain.feed_health import (
    FEED_BOARD_ID,
    FeedBoard,
    FeedPulse,
    OddsBookLink,
    OddsWatch,
    WatchStatus,
    odds_book_link_id,
    odds_watch_id,
)
from domain.fixture import Fixture
from domain.odds_book import OddsBook

log = logging.getLogger("sportcast.feed_health")
_A = TypeVar("_A", bound=Aggregate)

DEFAULT_STALE_AFTER = timedelta(seconds=900)
DEFAULT_WINDOW = timedelta(hours=3)

_CLOSING: dict[type[Any], str] = {
    Fixture.Started: "started",
    Fixture.Finished: "finished",
    Fixture.Abandoned: "abandoned",
}
_FOLLOWED: tuple[type[Any], ...] = (
    Fixture.Scheduled,
    Fixture.Rescheduled,
    Fixture.Postponed,
    *_CLOSING,
    OddsBook.Opened,
    OddsBook.OddsQuoted,
)


class FeedHealth(EventSourcedProjection[UUID]):
    name = "FeedHealth"
    """Also the prefix of its own settings: ``FEEDHEALTH_NATS_STREAM`` names its stream."""
    topics = tuple(get_topic(cls) for cls in _FOLLOWED)
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
    # The board and busy watches gain an event per quote: snapshots keep loading them cheap.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {FeedBoard: 200, OddsWatch: 200}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def process_event(self, domain_event: DomainEventProtocol[UUID], tracking: Tracking) -> None:
        # check() runs on another thread and writes the same watches.
        with self.processing_lock:
            try:
                super().process_event(domain_event, tracking)
            except Exception as exc:  # which event: the runner's record of the failure says
                topic = type(domain_event).__qualname__
                raise FollowedEventFailed(tracking.notification_id, topic, exc) from exc

    def policy(
        self, domain_event: DomainEventProtocol[UUID], processing_event: ProcessingEvent[UUID]
    ) -> None:
        e: Any = domain_event
        if isinstance(e, OddsBook.OddsQuoted):
            self._on_quote(e, processing_event)
        elif isinstance(e, OddsBook.Opened):
            self._on_book_opened(e, processing_event)
        elif isinstance(e, Fixture.Scheduled):
            watch = OddsWatch.open(
                fixture_id=e.originator_id, competition=e.competition, kickoff=e.kickoff
            )
            board = self._board() or FeedBoard()
            board.list_watch(e.originator_id, e.kickoff)
            processing_event.collect_events(watch, board)
        elif isinstance(e, (Fixture.Rescheduled, Fixture.Postponed, *_CLOSING)):
            self._on_fixture_change(e, processing_event)

    def _on_fixture_change(self, e: Any, processing_event: ProcessingEvent[UUID]) -> None:
        watch = self._watch(e.originator_id)
        board = self._board()
        if watch is None or board is None:
            log.warning("feed health: no watch for fixture %s, skipping %s", e.originator_id, e)
            return
        if isinstance(e, Fixture.Rescheduled):
            watch.reschedule(e.kickoff)
        elif isinstance(e, Fixture.Postponed):
            watch.postpone()
        else:
            watch.close(_CLOSING[type(e)])
        if watch.status == WatchStatus.OPEN:
            board.list_watch(watch.fixture_id, watch.kickoff)
        else:
            board.delist_watch(watch.fixture_id)
        processing_event.collect_events(watch, board)

    def _on_book_opened(self, e: Any, processing_event: ProcessingEvent[UUID]) -> None:
        watch = self._watch(e.fixture_id)
        if watch is None:
            log.warning("feed health: no watch for fixture %s of book %s", e.fixture_id, e)
            return
        link = OddsBookLink(
            odds_book_id=e.originator_id,
            fixture_id=e.fixture_id,
            source=e.source,
            competition=watch.competition,
        )
        processing_event.collect_events(link)

    def _on_quote(self, e: Any, processing_event: ProcessingEvent[UUID]) -> None:
        link = self._get(OddsBookLink, odds_book_link_id(e.originator_id))
        watch = None if link is None else self._watch(link.fixture_id)
        if link is None or watch is None:
            log.warning("feed health: quote from unknown odds book %s, skipping", e.originator_id)
            return
        board = self._board() or FeedBoard()
        watch.see_quote(link.source, e.quoted_at)
        board.see_quote(link.source, link.competition, e.quoted_at)
        processing_event.collect_events(watch, board)

    # The timer's entry

    def check(
        self,
        now: datetime,
        *,
        window: timedelta = DEFAULT_WINDOW,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> list[OddsWatch.OddsWentStale]:
        """Report every open watch kicking off within ``window`` whose odds are older than
        ``stale_after``; returns the OddsWentStale events stored by this call."""
        stored: list[OddsWatch.OddsWentStale] = []
        with self.processing_lock:
            board = self._board()
            for fixture_id in [] if board is None else board.watches_due(now, window):
                try:
                    watch = self._watch(fixture_id)
                    if watch is None or not watch.report_if_stale(now, window, stale_after):
                        continue
                except Exception:
                    # One watch that cannot be checked must not stop the others' checks.
                    log.exception(
                        "feed health: watch of fixture %s could not be checked", fixture_id
                    )
                    continue
                alerts = [e for e in watch.pending_events if isinstance(e, OddsWatch.OddsWentStale)]
                try:
                    self.save(watch)
                except IntegrityError:
                    # Another checker (process) wrote this watch first: it made the report.
                    log.info(
                        "feed health: watch %s changed meanwhile; next check decides", watch.id
                    )
                    continue
                stored.extend(alerts)
        return stored

    # The read side

    def feed_pulses(self, now: datetime) -> list[FeedPulse]:
        """Per source and competition: the last quote and the seconds since, stalest first."""
        board = self._board()
        return [] if board is None else board.pulses(now)

    def _board(self) -> FeedBoard | None:
        return self._get(FeedBoard, FEED_BOARD_ID)

    def _watch(self, fixture_id: UUID) -> OddsWatch | None:
        return self._get(OddsWatch, odds_watch_id(fixture_id))

    def _get(self, kind: type[_A], aggregate_id: UUID) -> _A | None:
        try:
            found: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, kind)
        return found
