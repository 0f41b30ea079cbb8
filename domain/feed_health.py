"""Feed health: is a fixture close to kick-off still getting odds, and how fresh is each feed?

Three small aggregates kept by the feed-health process (commands/feed_health.py), in its own
stream, never in the feed's (see docs/adr/0007-feed-health.md):

- :class:`OddsWatch`, one per fixture: its kick-off, the last quote time per source, and the
  rule that says when its odds went stale (at most one :class:`OddsWatch.OddsWentStale` per
  staleness episode; a newer quote, or a new kick-off, starts a new episode).
- :class:`OddsBookLink`, one per odds book: a quote's originator is the book, so the process
  keeps which fixture (and competition) each book belongs to.
- :class:`FeedBoard`, one per process: the watches that are open, by kick-off, and the last
  quote time per competition and source (the "time since the last odds update" table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

# Fixed forever: changing them orphans every stream the feed-health process wrote.
ODDS_WATCH_NAMESPACE = UUID("0d3f5a1e-4b8c-5e2f-9a7d-3c6b1e8f4a20")
ODDS_BOOK_LINK_NAMESPACE = UUID("6a2e9c4b-1f7d-5b3a-8e6c-2d4f9a1b7c35")
FEED_BOARD_ID = UUID("9c1b7e3a-5d2f-5a8e-b4c6-1e7f3a9d2b48")


class InvalidHealthCheck(DomainError):
    code = "invalid-health-check"


class WatchStatus(StrEnum):
    OPEN = "open"  # scheduled: odds are expected before kick-off
    POSTPONED = "postponed"  # no kick-off to be close to, until it is rescheduled
    OVER = "over"  # started, finished or abandoned: pre-match odds no longer matter


def odds_watch_id(fixture_id: UUID) -> UUID:
    return uuid5(ODDS_WATCH_NAMESPACE, str(fixture_id))


def odds_book_link_id(odds_book_id: UUID) -> UUID:
    return uuid5(ODDS_BOOK_LINK_NAMESPACE, str(odds_book_id))


def is_due(kickoff: datetime, now: datetime, window: timedelta) -> bool:
    """True when ``now`` lies in the ``window`` before kick-off (kick-off itself excluded).

    Written as ``now + window``: ``kickoff - window`` overflows for a kick-off near year 1,
    and one stored before ingest refused such times must not stop every check."""
    return now < kickoff <= now + window


def _check_arguments(now: datetime, window: timedelta, stale_after: timedelta) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidHealthCheck(f"now must be timezone-aware, got {now.isoformat()}")
    if window <= timedelta(0) or stale_after <= timedelta(0):
        raise InvalidHealthCheck(
            f"window and stale_after must be positive, got {window} and {stale_after}"
        )


class OddsWatch(Aggregate):
    class Opened(Aggregate.Created):
        fixture_id: UUID
        competition: str
        kickoff: datetime

    class Rescheduled(Aggregate.Event):
        kickoff: datetime

    class Postponed(Aggregate.Event):
        pass

    class Closed(Aggregate.Event):
        reason: str

    class QuoteSeen(Aggregate.Event):
        source: str
        quoted_at: datetime

    class OddsWentStale(Aggregate.Event):
        fixture_id: UUID
        competition: str
        kickoff: datetime
        last_quote_at: datetime | None
        """The newest quote from any source, or None when there never was one."""
        checked_at: datetime
        stale_after_seconds: float

    @staticmethod
    def create_id(fixture_id: UUID) -> UUID:
        return odds_watch_id(fixture_id)

    @classmethod
    def open(cls, *, fixture_id: UUID, competition: str, kickoff: datetime) -> OddsWatch:
        return cls(fixture_id=fixture_id, competition=competition, kickoff=kickoff)

    @event(Opened)
    def __init__(self, fixture_id: UUID, competition: str, kickoff: datetime) -> None:
        self.fixture_id = fixture_id
        self.competition = competition
        self.kickoff = kickoff
        self.status = WatchStatus.OPEN
        self.last_quotes: dict[str, datetime] = {}
        self.stale_reported = False
        """True from an OddsWentStale until the next newer quote or new kick-off."""

    # Following the fixture. Each is a no-op when it would change nothing, so the process can
    # apply the fixture's events as they come without re-checking the fixture's own rules.

    def reschedule(self, kickoff: datetime) -> None:
        if self.status != WatchStatus.OVER:
            self._rescheduled(kickoff=kickoff)

    @event(Rescheduled)
    def _rescheduled(self, kickoff: datetime) -> None:
        self.kickoff = kickoff
        self.status = WatchStatus.OPEN
        self.stale_reported = False

    def postpone(self) -> None:
        if self.status == WatchStatus.OPEN:
            self._postponed()

    @event(Postponed)
    def _postponed(self) -> None:
        self.status = WatchStatus.POSTPONED

    def close(self, reason: str) -> None:
        if self.status != WatchStatus.OVER:
            self._closed(reason=reason)

    @event(Closed)
    def _closed(self, reason: str) -> None:
        self.status = WatchStatus.OVER

    def see_quote(self, source: str, quoted_at: datetime) -> bool:
        """Record a quote; False (nothing recorded) when it is not newer for its source."""
        if self.status == WatchStatus.OVER:
            return False
        previous = self.last_quotes.get(source)
        if previous is not None and quoted_at <= previous:
            return False
        self._quote_seen(source=source, quoted_at=quoted_at)
        return True

    @event(QuoteSeen)
    def _quote_seen(self, source: str, quoted_at: datetime) -> None:
        newest = self.last_quote_at
        self.last_quotes[source] = quoted_at
        if newest is None or quoted_at > newest:
            self.stale_reported = False  # fresher odds: a later silence is a new episode

    # The rule

    @property
    def last_quote_at(self) -> datetime | None:
        return max(self.last_quotes.values(), default=None)

    def check(self, now: datetime, window: timedelta, stale_after: timedelta) -> bool:
        """Stale: open, ``now`` within ``window`` before kick-off, and no quote from any source
        in more than ``stale_after`` (or none ever). Says nothing about earlier reports."""
        _check_arguments(now, window, stale_after)
        if self.status != WatchStatus.OPEN or not is_due(self.kickoff, now, window):
            return False
        last = self.last_quote_at
        return last is None or now - last > stale_after

    def report_if_stale(self, now: datetime, window: timedelta, stale_after: timedelta) -> bool:
        """Emit OddsWentStale when :meth:`check` holds and this episode was not reported yet."""
        if self.stale_reported or not self.check(now, window, stale_after):
            return False
        self._odds_went_stale(
            fixture_id=self.fixture_id,
            competition=self.competition,
            kickoff=self.kickoff,
            last_quote_at=self.last_quote_at,
            checked_at=now,
            stale_after_seconds=stale_after.total_seconds(),
        )
        return True

    @event(OddsWentStale)
    def _odds_went_stale(
        self,
        fixture_id: UUID,
        competition: str,
        kickoff: datetime,
        last_quote_at: datetime | None,
        checked_at: datetime,
        stale_after_seconds: float,
    ) -> None:
        self.stale_reported = True


class OddsBookLink(Aggregate):
    class Linked(Aggregate.Created):
        odds_book_id: UUID
        fixture_id: UUID
        source: str
        competition: str

    @staticmethod
    def create_id(odds_book_id: UUID) -> UUID:
        return odds_book_link_id(odds_book_id)

    @event(Linked)
    def __init__(self, odds_book_id: UUID, fixture_id: UUID, source: str, competition: str) -> None:
        self.odds_book_id = odds_book_id
        self.fixture_id = fixture_id
        self.source = source
        self.competition = competition


@dataclass(frozen=True)
class FeedPulse:
    """One row of the feed-health table."""

    source: str
    competition: str
    last_quote_at: datetime
    seconds_since: float
    """Negative when the quote is stamped in the future of ``now`` (a source's clock skew)."""


class FeedBoard(Aggregate):
    # State uses string keys only: snapshots are stored as JSON.

    class Started(Aggregate.Created):
        pass

    class WatchListed(Aggregate.Event):
        fixture_id: UUID
        kickoff: datetime

    class WatchDelisted(Aggregate.Event):
        fixture_id: UUID

    class QuoteSeen(Aggregate.Event):
        source: str
        competition: str
        quoted_at: datetime

    @staticmethod
    def create_id() -> UUID:
        return FEED_BOARD_ID

    @event(Started)
    def __init__(self) -> None:
        self.kickoffs: dict[str, datetime] = {}
        """Open watches: fixture id -> kick-off."""
        self.last_quotes: dict[str, dict[str, datetime]] = {}
        """Competition -> source -> newest quote time."""

    def list_watch(self, fixture_id: UUID, kickoff: datetime) -> None:
        if self.kickoffs.get(str(fixture_id)) != kickoff:
            self._watch_listed(fixture_id=fixture_id, kickoff=kickoff)

    @event(WatchListed)
    def _watch_listed(self, fixture_id: UUID, kickoff: datetime) -> None:
        self.kickoffs[str(fixture_id)] = kickoff

    def delist_watch(self, fixture_id: UUID) -> None:
        if str(fixture_id) in self.kickoffs:
            self._watch_delisted(fixture_id=fixture_id)

    @event(WatchDelisted)
    def _watch_delisted(self, fixture_id: UUID) -> None:
        del self.kickoffs[str(fixture_id)]

    def see_quote(self, source: str, competition: str, quoted_at: datetime) -> None:
        previous = self.last_quotes.get(competition, {}).get(source)
        if previous is None or quoted_at > previous:
            self._quote_seen(source=source, competition=competition, quoted_at=quoted_at)

    @event(QuoteSeen)
    def _quote_seen(self, source: str, competition: str, quoted_at: datetime) -> None:
        self.last_quotes.setdefault(competition, {})[source] = quoted_at

    def watches_due(self, now: datetime, window: timedelta) -> list[UUID]:
        """Open watches whose kick-off is within ``window`` after ``now``, soonest first."""
        due = [(k, f) for f, k in self.kickoffs.items() if is_due(k, now, window)]
        return [UUID(f) for _, f in sorted(due)]

    def pulses(self, now: datetime) -> list[FeedPulse]:
        """Time since the last quote, per source and competition, stalest first."""
        rows = [
            FeedPulse(
                source=source,
                competition=competition,
                last_quote_at=at,
                seconds_since=(now - at).total_seconds(),
            )
            for competition, sources in self.last_quotes.items()
            for source, at in sources.items()
        ]
        return sorted(rows, key=lambda r: (-r.seconds_since, r.competition, r.source))
