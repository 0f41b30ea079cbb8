"""The feed-ingestion application service: a command in, its events stored exactly once.

``handle`` loads what the command is about, lets the handler decide, and saves the new events
together with a :class:`~commands.receipt.CommandReceipt` in one atomic save. On a clash
(another writer got there first) it re-reads: if the receipt now exists the command was a
duplicate; otherwise it decides again against the newer state.

``handle_many`` does the same for a run of commands with as few saves as the store allows
(bulk feeds and replays); see its docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from commands.cache import AggregateCache
from commands.digest import command_digest
from commands.fixture import FixtureCommand, ScheduleFixture
from commands.fixture_handlers import handle_fixture_command
from commands.odds import RecordOdds, record_odds
from commands.receipt import CommandReceipt, issue_receipt, receipt_id
from commands.transcodings import register_domain_transcodings
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.odds_book import OddsBook

FeedCommand = FixtureCommand | RecordOdds
_A = TypeVar("_A", bound=Aggregate)
MAX_ATTEMPTS = 8
MAX_SAVE_EVENTS = 1000
"""Events (receipts included) in one save: what one JetStream atomic batch may hold."""


class TooMuchContention(DomainError):
    code = "too-much-contention"


class IdempotencyKeyReused(DomainError):
    """The key was honoured for another request: this one is refused, not taken as a retry."""

    code = "idempotency-key-reused"


@dataclass(frozen=True)
class Accepted:
    """The outcome of a command: where its events are. Identical for every retry of a key."""

    aggregate_id: UUID
    from_version: int
    to_version: int
    duplicate: bool = False
    notification_ids: tuple[int, ...] = field(default=())
    """Global positions of the new events; empty for a duplicate (they were reported then)."""


@dataclass
class _Decided:
    """One command of a run, decided: its events and receipt, or why it was refused."""

    index: int
    events: list[DomainEventProtocol[UUID]]
    outcome: Accepted | DomainError


class _Clash(Exception):
    """A run could not be saved as decided: the commands before ``index`` were (``saved``
    holds their outcomes); those from ``index`` on need another pass."""

    def __init__(self, index: int, saved: list[Accepted | DomainError]) -> None:
        self.index = index
        self.saved = saved


def _reused(cmd: FeedCommand) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"idempotency key {cmd.idempotency_key!r} was already used for another request;"
        " send a new key for a new message"
    )


class FeedIngestion(Application[UUID]):
    name = "feeds"  # also the prefix of its eventsourcing env keys (FEEDS_NATS_STREAM, ...)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        cache_size: int = 50_000,
        max_save_events: int = MAX_SAVE_EVENTS,
    ) -> None:
        super().__init__(env)
        self._cache = AggregateCache(cache_size)
        self.max_save_events = max_save_events

    def handle(self, cmd: FeedCommand) -> Accepted:
        """Apply ``cmd``; raises the DomainError that explains a rejection.

        The happy path costs one save and no reads for aggregates already in the cache: a
        duplicate key is caught by the save itself (the receipt exists), and a stale cache entry
        by the event store's concurrency check, after which the aggregate is read afresh.
        """
        for _ in range(MAX_ATTEMPTS):
            working: dict[UUID, Aggregate] = {}
            try:
                aggregate = self._decide(cmd, working, assume_new=False)
            except DomainError:
                self._give_back(working)  # refused before any change: still as saved
                # A re-sent command is often refused (e.g. "already scheduled"): answer as before.
                if (previous := self._previous(cmd)) is not None:
                    return previous
                raise
            new = aggregate.collect_events()
            first, last = new[0].originator_version, new[-1].originator_version
            receipt = issue_receipt(
                cmd.idempotency_key,
                type(cmd).__name__,
                aggregate.id,
                first,
                last,
                command_digest(cmd),
            )
            try:
                ids = self._store([*new, receipt])
            except IntegrityError:
                if (previous := self._previous(cmd)) is not None:
                    return previous
                continue  # lost a race: decide again against the newer state
            self._give_back(working)
            return Accepted(
                aggregate_id=aggregate.id,
                from_version=first,
                to_version=last,
                notification_ids=tuple(ids[: len(new)]),
            )
        raise TooMuchContention(
            f"{type(cmd).__name__} {cmd.idempotency_key!r} lost {MAX_ATTEMPTS} races in a row"
        )

    def handle_many(self, cmds: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        """Apply consecutive commands with as few atomic saves as the store allows.

        Commands are decided in order against one working set, so a later command sees an
        earlier one's events; their events are stored in command order, each command's events
        and receipt in the same save (saves end at command boundaries, at most
        ``max_save_events`` events each). A refused command is left out (its DomainError is
        returned in its place); a key repeated within the run is a duplicate of its first.

        The first pass assumes that an aggregate a command would create and that is not in the
        cache does not exist yet, instead of reading the store to make sure (a replay creates
        tens of thousands): if one did exist, creating it again clashes with it at save time,
        like a duplicate key or a concurrent writer. Saves that succeeded stay. From the save
        that clashed on, a second pass answers the commands that have a receipt (duplicates)
        and decides the rest reading every aggregate it does not hold; whatever still clashes
        is retried alone through :meth:`handle`, which tells duplicates from conflicts. A run
        whose first command has a receipt is taken as resent and goes to the second pass
        straight away: a replay played again costs one read per command, not a clash per run.
        """
        if cmds and self._receipt(cmds[0].idempotency_key) is not None:
            return self._answer_then_decide(cmds)  # resent (a replay played again): no clash
        try:
            return self._decide_and_save(cmds, assume_new=True)
        except _Clash as clash:
            return clash.saved + self._answer_then_decide(cmds[clash.index :])

    def _answer_then_decide(self, rest: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        """Duplicates answered from their receipts; the rest decided from the store's state."""
        answered = {n: self._answer(cmd) for n, cmd in enumerate(rest)}
        todo = [cmd for n, cmd in enumerate(rest) if answered[n] is None]
        try:
            decided = self._decide_and_save(todo, assume_new=False)
        except _Clash as clash:
            alone = [self._handle_or_refusal(cmd) for cmd in todo[clash.index :]]
            decided = clash.saved + alone
        fresh = iter(decided)
        return [answered[n] or next(fresh) for n in range(len(rest))]

    def _decide_and_save(
        self, cmds: Sequence[FeedCommand], *, assume_new: bool
    ) -> list[Accepted | DomainError]:
        working: dict[UUID, Aggregate] = {}
        decided: list[_Decided] = []
        first_of_key: dict[str, tuple[Accepted, str]] = {}
        for index, cmd in enumerate(cmds):
            digest = command_digest(cmd)
            if (earlier := first_of_key.get(cmd.idempotency_key)) is not None:
                same = earlier[1] == digest
                outcome = replace(earlier[0], duplicate=True) if same else _reused(cmd)
                decided.append(_Decided(index, [], outcome))
                continue
            try:
                aggregate = self._decide(cmd, working, assume_new=assume_new)
            except DomainError as refused:
                if any(a.pending_events for a in working.values()):
                    # Rules are checked before events are triggered; should one ever not be,
                    # nothing decided with that aggregate is saved: each command goes alone.
                    raise _Clash(0, []) from refused
                # A re-sent command is often refused (e.g. "already scheduled"): answer as before.
                decided.append(_Decided(index, [], self._answer(cmd) or refused))
                continue
            working[aggregate.id] = aggregate
            new = aggregate.collect_events()
            first, last = new[0].originator_version, new[-1].originator_version
            receipt = issue_receipt(
                cmd.idempotency_key, type(cmd).__name__, aggregate.id, first, last, digest
            )
            accepted = Accepted(aggregate.id, first, last)
            first_of_key[cmd.idempotency_key] = (accepted, digest)
            decided.append(_Decided(index, [*new, receipt], accepted))
        outcomes: list[Accepted | DomainError] = []
        for part in self._parts(decided):
            events = [event for d in part for event in d.events]
            if events:
                try:
                    self._store(events)
                except IntegrityError:
                    # The working set holds decisions that were not saved: none goes back.
                    for aggregate_id in working:
                        self._cache.drop(aggregate_id)
                    raise _Clash(part[0].index, outcomes) from None
            outcomes += [d.outcome for d in part]
        self._give_back(working)
        return outcomes

    def _parts(self, decided: list[_Decided]) -> list[list[_Decided]]:
        """Consecutive commands grouped into saves of at most ``max_save_events`` events."""
        parts: list[list[_Decided]] = [[]]
        size = 0
        for d in decided:
            if size and size + len(d.events) > self.max_save_events:
                parts.append([])
                size = 0
            parts[-1].append(d)
            size += len(d.events)
        return parts

    def _store(self, events: Sequence[DomainEventProtocol[UUID]]) -> Sequence[int]:
        """Save ``events`` atomically; their notification ids (empty if the store has none).

        Through the event store's public ``put``: ``Application.save`` would also check every
        object against eventsourcing's runtime protocols (a tenth of a replay's CPU), and this
        service has no snapshots or in-process followers for it to serve.
        """
        return [recording.notification.id for recording in self.events.put(events)]

    def _give_back(self, working: dict[UUID, Aggregate]) -> None:
        for aggregate in working.values():  # put() keeps only aggregates with nothing pending
            self._cache.put(aggregate)

    def _handle_or_refusal(self, cmd: FeedCommand) -> Accepted | DomainError:
        try:
            return self.handle(cmd)
        except DomainError as refused:
            return refused

    def honoured(self, key: str) -> bool:
        """Whether a command with this idempotency key was acted on (its receipt is stored)."""
        return self._receipt(key) is not None

    def _receipt(self, key: str) -> CommandReceipt | None:
        try:
            receipt: object = self.repository.get(receipt_id(key))
        except AggregateNotFoundError:
            return None
        assert isinstance(receipt, CommandReceipt)
        return receipt

    def _answer(self, cmd: FeedCommand) -> Accepted | DomainError | None:
        """How a command whose key was already honoured is answered: as before when it asks
        for the same thing, refused when the key was used for another request (receipts
        stored before digests were kept cannot tell: they answer as before)."""
        receipt = self._receipt(cmd.idempotency_key)
        if receipt is None:
            return None
        if receipt.payload_digest not in (None, command_digest(cmd)):
            return _reused(cmd)
        return Accepted(
            aggregate_id=receipt.aggregate_id,
            from_version=receipt.from_version,
            to_version=receipt.to_version,
            duplicate=True,
        )

    def _previous(self, cmd: FeedCommand) -> Accepted | None:
        """:meth:`_answer` for :meth:`handle`: the earlier outcome, or the refusal raised."""
        answer = self._answer(cmd)
        if isinstance(answer, DomainError):
            raise answer
        return answer

    def _decide(
        self, cmd: FeedCommand, working: dict[UUID, Aggregate], *, assume_new: bool
    ) -> Aggregate:
        if isinstance(cmd, RecordOdds):
            fixture = self._get(Fixture, cmd.fixture_id, working)
            book = self._get(OddsBook, cmd.odds_book_id, working, assume_new=assume_new)
            return record_odds(cmd, book, fixture)
        if isinstance(cmd, ScheduleFixture):
            fixture = self._get(Fixture, cmd.fixture_id, working, assume_new=assume_new)
            return handle_fixture_command(cmd, fixture)
        return handle_fixture_command(cmd, self._get(Fixture, cmd.fixture_id, working))

    def _get(
        self,
        kind: type[_A],
        aggregate_id: UUID,
        working: dict[UUID, Aggregate],
        *,
        assume_new: bool = False,
    ) -> _A | None:
        """The aggregate from this command's working set, the cache, or the store; whatever
        is found joins the working set (and goes back to the cache only after a save).

        ``assume_new``: the command creates the aggregate if it is missing, so one not in
        the cache is taken as missing without a read (a wrong guess clashes at save time)."""
        found: object = working.get(aggregate_id) or self._cache.take(aggregate_id)
        if found is None:
            if assume_new:
                return None
            try:
                found = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        assert isinstance(found, kind)
        working[aggregate_id] = found
        return found
