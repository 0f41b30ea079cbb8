"""The feed-ingestion application service: a command in, its events stored exactly once.

``handle`` loads what the command is about, lets the handler decide, and saves the new events
together with a :class:`~commands.receipt.CommandReceipt` in one atomic save. On a clash
(another writer got there first) it re-reads: if the receipt now exists the command was a
duplicate; otherwise it decides again against the newer state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

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
    name = "sportcast"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def handle(self, cmd: FeedCommand) -> Accepted:
        """Apply ``cmd``; raises the DomainError that explains a rejection."""
        for _ in range(MAX_ATTEMPTS):
            previous = self._receipt(cmd.idempotency_key)
            if previous is not None:
                return previous
            aggregate = self._decide(cmd)
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
                continue
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

    def _decide(self, cmd: FeedCommand) -> Aggregate:
        if isinstance(cmd, RecordOdds):
            fixture = self._get(Fixture, cmd.fixture_id)
            book = self._get(OddsBook, cmd.odds_book_id)
            return record_odds(cmd, book, fixture)
        return handle_fixture_command(cmd, self._get(Fixture, cmd.fixture_id))

    def _get(self, kind: type[_A], aggregate_id: UUID) -> _A | None:
        try:
            found: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, kind)
        return found
