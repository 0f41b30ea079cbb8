"""The feed-ingestion application service: a command in, its events stored exactly once.

``handle`` loads what the command is about, lets the handler decide, and saves the new events
together with a :class:`~commands.receipt.CommandReceipt` in one atomic save. On a clash
(another writer got there first) it re-reads: if the receipt now exists the command was a
duplicate; otherwise it decides again against the newer state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from commands.cache import AggregateCache
from commands.fixture import FixtureCommand
from commands.fixture_handlers import handle_fixture_command
from commands.odds import RecordOdds, record_odds
from commands.receipt import CommandReceipt, receipt_id
from commands.transcodings import register_domain_transcodings
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.odds_book import OddsBook

FeedCommand = FixtureCommand | RecordOdds
_A = TypeVar("_A", bound=Aggregate)
MAX_ATTEMPTS = 8


class TooMuchContention(DomainError):
    code = "too-much-contention"


@dataclass(frozen=True)
class Accepted:
    """The outcome of a command: where its events are. Identical for every retry of a key."""

    aggregate_id: UUID
    from_version: int
    to_version: int
    duplicate: bool = False
    notification_ids: tuple[int, ...] = field(default=())
    """Global positions of the new events; empty for a duplicate (they were reported then)."""


class FeedIngestion(Application[UUID]):
    name = "feeds"  # also the prefix of its eventsourcing env keys (FEEDS_NATS_STREAM, ...)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def __init__(self, env: Mapping[str, str] | None = None, *, cache_size: int = 50_000) -> None:
        super().__init__(env)
        self._cache = AggregateCache(cache_size)

    def handle(self, cmd: FeedCommand) -> Accepted:
        """Apply ``cmd``; raises the DomainError that explains a rejection.

        The happy path costs one save and no reads for aggregates already in the cache: a
        duplicate key is caught by the save itself (the receipt exists), and a stale cache entry
        by the event store's concurrency check, after which the aggregate is read afresh.
        """
        for _ in range(MAX_ATTEMPTS):
            working: dict[UUID, Aggregate] = {}
            try:
                aggregate = self._decide(cmd, working)
                working[aggregate.id] = aggregate
            except DomainError:
                self._give_back(working)  # refused before any change: still as saved
                # A re-sent command is often refused (e.g. "already scheduled"): answer as before.
                if (previous := self._receipt(cmd.idempotency_key)) is not None:
                    return previous
                raise
            from_version = aggregate.version - len(aggregate.pending_events) + 1
            receipt = CommandReceipt(
                idempotency_key=cmd.idempotency_key,
                command=type(cmd).__name__,
                aggregate_id=aggregate.id,
                from_version=from_version,
                to_version=aggregate.version,
            )
            try:
                recordings = self.save(aggregate, receipt)
            except IntegrityError:
                if (previous := self._receipt(cmd.idempotency_key)) is not None:
                    return previous
                continue  # lost a race: decide again against the newer state
            self._give_back(working)
            return Accepted(
                aggregate_id=aggregate.id,
                from_version=from_version,
                to_version=aggregate.version,
                notification_ids=tuple(
                    r.notification.id
                    for r in recordings
                    if r.domain_event.originator_id == aggregate.id
                ),
            )
        raise TooMuchContention(
            f"{type(cmd).__name__} {cmd.idempotency_key!r} lost {MAX_ATTEMPTS} races in a row"
        )

    def handle_many(self, cmds: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        """Apply consecutive commands in one atomic save (bulk feeds: fewer, larger writes).

        Commands are decided in order against a shared working set, so a later command sees an
        earlier one's events, and their events are stored in command order. A refused command
        is left out (its DomainError is returned in its place). If the save clashes (a duplicate
        key, a concurrent writer), every command is retried alone through :meth:`handle`, which
        tells duplicates from conflicts.
        """
        working: dict[UUID, Aggregate] = {}
        outcomes: list[Accepted | DomainError] = []
        ordered: list[object] = []
        for cmd in cmds:
            try:
                aggregate = self._decide(cmd, working)
            except DomainError as refused:
                # A re-sent command is often refused (e.g. "already scheduled"): answer as before.
                outcomes.append(self._receipt(cmd.idempotency_key) or refused)
                # Rules are checked before events are triggered; should one ever not be, its
                # aggregate leaves the batch rather than smuggle a refused event into the save.
                for stained in [a for a in working.values() if a.pending_events]:
                    del working[stained.id]
                continue
            working[aggregate.id] = aggregate
            new = aggregate.collect_events()
            first, last = new[0].originator_version, new[-1].originator_version
            receipt = CommandReceipt(
                idempotency_key=cmd.idempotency_key,
                command=type(cmd).__name__,
                aggregate_id=aggregate.id,
                from_version=first,
                to_version=last,
            )
            ordered.extend([*new, *receipt.collect_events()])
            outcomes.append(
                Accepted(aggregate_id=aggregate.id, from_version=first, to_version=last)
            )
        if not ordered:
            self._give_back(working)  # untouched: every command was refused
            return outcomes
        try:
            self.save(*ordered)  # type: ignore[arg-type]
        except IntegrityError:
            return [self._handle_or_refusal(cmd) for cmd in cmds]
        self._give_back(working)
        return outcomes

    def _give_back(self, working: dict[UUID, Aggregate]) -> None:
        for aggregate in working.values():  # put() keeps only aggregates with nothing pending
            self._cache.put(aggregate)

    def _handle_or_refusal(self, cmd: FeedCommand) -> Accepted | DomainError:
        try:
            return self.handle(cmd)
        except DomainError as refused:
            return refused

    def _receipt(self, key: str) -> Accepted | None:
        try:
            receipt: object = self.repository.get(receipt_id(key))
        except AggregateNotFoundError:
            return None
        assert isinstance(receipt, CommandReceipt)
        return Accepted(
            aggregate_id=receipt.aggregate_id,
            from_version=receipt.from_version,
            to_version=receipt.to_version,
            duplicate=True,
        )

    def _decide(self, cmd: FeedCommand, working: dict[UUID, Aggregate]) -> Aggregate:
        if isinstance(cmd, RecordOdds):
            fixture = self._get(Fixture, cmd.fixture_id, working)
            book = self._get(OddsBook, cmd.odds_book_id, working)
            return record_odds(cmd, book, fixture)
        return handle_fixture_command(cmd, self._get(Fixture, cmd.fixture_id, working))

    def _get(self, kind: type[_A], aggregate_id: UUID, working: dict[UUID, Aggregate]) -> _A | None:
        """The aggregate from this command's working set, the cache, or the store; whatever
        is found joins the working set (and goes back to the cache only after a save)."""
        found: object = working.get(aggregate_id) or self._cache.take(aggregate_id)
        if found is None:
            try:
                found = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        assert isinstance(found, kind)
        working[aggregate_id] = found
        return found
