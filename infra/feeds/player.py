"""Plays feed messages into the intake: in event time at X times real speed, or as fast as
possible, keeping each fixture's messages in order while different fixtures go in parallel.

Refusals (a command that cannot be built, or that the domain refuses) are quarantined with the
raw source bytes and the reason; nothing refused is half-written, nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from eventsourcing.persistence import OperationalError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_incrementing,
)

from commands.ingestion import Accepted, FeedCommand
from commands.intake import FeedIntake, RefusedPayload
from domain.errors import DomainError
from domain.provenance import Provenance
from infra.feeds.messages import FeedMessage

log = logging.getLogger("sportcast.feeds")
refusals = logging.getLogger("sportcast.refusals")
"""The refused-input log: one JSON line per refusal (gateway.metrics logs the HTTP ones)."""
T = TypeVar("T")


@dataclass
class PlayReport:
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    events_stored: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refused_origins: set[str] = field(default_factory=set)
    seconds: float = 0.0
    most_late: float = 0.0
    """The most event time (seconds) by which a message was stored after a later one."""
    cpu_seconds: float = 0.0
    """CPU time of the playing process meanwhile (all its threads; summed when combined)."""
    retries: int = 0
    """Calls sent again after the store did not answer in time: runs (their commands stored
    the first time then count as duplicates), payloads kept, refusals quarantined."""

    @property
    def handled(self) -> int:
        """Messages answered so far: accepted, duplicate or refused."""
        return self.accepted + self.duplicates + sum(self.refused.values())

    @property
    def events_per_second(self) -> float:
        return self.events_stored / self.seconds if self.seconds else 0.0

    @classmethod
    def combine(cls, reports: Sequence[PlayReport], *, seconds: float) -> PlayReport:
        """The reports of players that ran side by side (on disjoint messages) as one.
        ``most_late`` stays per player: across players nothing orders the store."""
        total = cls(seconds=seconds)
        for r in reports:
            total.messages += r.messages
            total.accepted += r.accepted
            total.duplicates += r.duplicates
            total.events_stored += r.events_stored
            total.refused.update(r.refused)
            total.refused_origins |= r.refused_origins
            total.most_late = max(total.most_late, r.most_late)
            total.cpu_seconds += r.cpu_seconds
            total.retries += r.retries
        return total


class BulkIntake(FeedIntake, Protocol):
    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        """Apply consecutive commands in one atomic save; a refusal in place of a result."""
        ...


class FeedPlayer:
    def __init__(
        self,
        intake: BulkIntake,
        *,
        source: str,
        lanes: int = 64,
        speed: float | None = None,
        run: int = 32,
        window: int | None = None,
        on_progress: Callable[[PlayReport], None] | None = None,
        attempts: int = 4,
        retry_delay: float = 0.5,
    ) -> None:
        """``speed``: event-time seconds per wall second (None: as fast as possible).
        ``run``: at most this many messages already waiting in a lane go into one save.
        ``window``: message n is dispatched only once every message before n - window is
        stored (default 4 per lane, and at least two runs), so the store's order strays from
        event-time order by at most ``window`` messages: consumers that follow the log (the
        forecaster) see the feed as it happened, not fast lanes racing ahead of slow ones.
        With one lane the store keeps event order exactly: runs are consecutive messages.

        Fastest on this machine (docs/adr/0006): one lane, runs of a few hundred messages (one
        atomic save each), and a process per group of competitions (infra/feeds/parallel.py).

        ``attempts``: a run, a payload or a refusal the store did not answer in time
        (``TimeoutError``, eventsourcing's ``OperationalError``) is sent again, up to this many
        times in all, after ``retry_delay`` seconds times the attempt number. That is safe
        because every save is stored entirely or not at all and every command is idempotent by
        its key (what was stored the first time comes back as a duplicate), and payloads and
        refusals are kept once by their digest. Anything else stops the play."""
        self.intake = intake
        self.source = source
        self.lanes = lanes
        self.speed = speed
        self.run = run
        self.window = window or max(4 * lanes, 2 * run)
        self.on_progress = on_progress
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts, self.retry_delay = attempts, retry_delay
        self._kept: dict[bytes, asyncio.Task[str]] = {}

    async def play(self, messages: Sequence[FeedMessage]) -> PlayReport:
        report = PlayReport(messages=len(messages))
        # Unbounded: the window bounds what they hold.
        queues: list[asyncio.Queue[tuple[int, FeedMessage] | None]] = [
            asyncio.Queue() for _ in range(self.lanes)
        ]
        started = time.perf_counter()
        cpu_started = time.process_time()
        self._stored = bytearray(len(messages))
        self._low = 0  # every message before this index is stored
        self._progress = asyncio.Condition()
        self._failure: Exception | None = None
        self._latest: datetime | None = None  # the latest event time stored so far
        workers = [asyncio.create_task(self._lane(q, report)) for q in queues]
        try:
            first = messages[0].at if messages else None
            for n, message in enumerate(messages):
                if self.speed is not None and first is not None:
                    due = (message.at - first).total_seconds() / self.speed
                    delay = due - (time.perf_counter() - started)
                    if delay > 0:
                        await asyncio.sleep(delay)
                lane = zlib.crc32(message.partition.encode()) % self.lanes if self.lanes > 1 else 0
                if self._low <= n - self.window or self._failure is not None:
                    await self._wait_for_room(n)
                self._keep(message.raw, report)  # meanwhile: the lane needs it kept first
                await queues[lane].put((n, message))
                if self.on_progress and n % 5000 == 0:
                    report.seconds = time.perf_counter() - started
                    self.on_progress(report)
            for q in queues:
                await q.put(None)
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            for raw, keeping in list(self._kept.items()):
                if not keeping.done():
                    keeping.cancel()  # no longer needed (the play failed)
                elif not keeping.cancelled() and keeping.exception() is None:
                    continue  # kept: a later play on this player reuses the reference
                del self._kept[raw]  # not kept: a later play tries again
        report.seconds = time.perf_counter() - started
        report.cpu_seconds = time.process_time() - cpu_started
        return report

    def _keep(self, raw: bytes, report: PlayReport) -> None:
        """Start keeping ``raw`` (once per player): the payload is stored before any event
        that refers to it, but off the lane's path, while earlier messages are applied."""
        if raw not in self._kept:
            self._kept[raw] = asyncio.ensure_future(
                self._patiently("keep a payload", lambda: self.intake.keep_raw(raw), report)
            )

    async def _lane(
        self, queue: asyncio.Queue[tuple[int, FeedMessage] | None], report: PlayReport
    ) -> None:
        finished = False
        while not finished:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.run and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    finished = True
                    break
                batch.append(more)
            try:
                await self._play_run([message for _, message in batch], report)
            except Exception as exc:  # e.g. the event store is unreachable: stop the play
                self._failure = exc
                async with self._progress:
                    self._progress.notify_all()
                raise
            await self._mark_stored([index for index, _ in batch])

    async def _wait_for_room(self, index: int) -> None:
        def room() -> bool:
            return self._low > index - self.window or self._failure is not None

        async with self._progress:
            await self._progress.wait_for(room)
        if self._failure is not None:
            raise self._failure

    async def _mark_stored(self, indexes: list[int]) -> None:
        async with self._progress:
            for index in indexes:
                self._stored[index] = 1
            while self._low < len(self._stored) and self._stored[self._low]:
                self._low += 1
            self._progress.notify_all()

    async def _play_run(self, batch: list[FeedMessage], report: PlayReport) -> None:
        refs: dict[bytes, str] = {}
        for message in batch:  # kept since dispatch, usually long done
            if message.raw not in refs:
                self._keep(message.raw, report)
                refs[message.raw] = await self._kept[message.raw]
        built: list[tuple[FeedMessage, FeedCommand]] = []
        received_at = datetime.now(UTC)
        for message in batch:
            try:
                provenance = Provenance(
                    source=self.source,
                    received_at=received_at,
                    source_event_id=message.key,
                    payload_ref=refs[message.raw],
                )
                built.append((message, message.build(message.key, provenance)))
            except DomainError as refusal:
                await self._refuse(message, refusal, report)
        if not built:
            return
        commands = [command for _, command in built]
        outcomes = await self._patiently(
            f"store a run of {len(commands)} commands",
            lambda: self.intake.submit_many(commands),
            report,
        )
        # Runs are in event order: the first message is the run's earliest.
        first, last = built[0][0].at, built[-1][0].at
        if self._latest is not None and self._latest > first:
            report.most_late = max(report.most_late, (self._latest - first).total_seconds())
        if self._latest is None or last > self._latest:
            self._latest = last
        for (message, _), outcome in zip(built, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                await self._refuse(message, outcome, report)
            elif outcome.duplicate:
                report.duplicates += 1
            else:
                report.accepted += 1
                report.events_stored += outcome.to_version - outcome.from_version + 1

    async def _patiently(
        self, what: str, call: Callable[[], Awaitable[T]], report: PlayReport
    ) -> T:
        """``call()``, again after a pause while the store does not answer in time (every call
        made here is idempotent: saves are atomic and keyed, payloads and refusals are kept
        once by their digest)."""

        def count_and_log(state: RetryCallState) -> None:
            report.retries += 1
            log.warning(
                "the event store did not answer in time to %s (%r); attempt %d of %d in %.1f s",
                what,
                state.outcome.exception() if state.outcome else None,
                state.attempt_number + 1,
                self.attempts,
                state.upcoming_sleep,
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_incrementing(start=self.retry_delay, increment=self.retry_delay),
            retry=retry_if_exception_type((TimeoutError, OperationalError)),
            before_sleep=count_and_log,
            reraise=True,
        )

        async def attempt() -> T:  # a coroutine function, so tenacity awaits each attempt
            return await call()

        return await retrying(attempt)

    async def _refuse(self, message: FeedMessage, refusal: DomainError, report: PlayReport) -> None:
        report.refused[refusal.code] += 1
        report.refused_origins.add(message.origin)
        held = await self._patiently(
            "quarantine a refused message",
            lambda: self.intake.quarantine(
                RefusedPayload(
                    raw=message.raw,
                    source=self.source,
                    kind=message.kind,
                    reason_code=refusal.code,
                    reason=str(refusal),
                    origin=message.origin,
                    key=message.key,
                )
            ),
            report,
        )
        refusals.info(  # one JSON line per refused input, as the HTTP ingest's problems
            json.dumps(
                {
                    "event": "refused",
                    "code": refusal.code,
                    "detail": str(refusal),
                    "source": self.source,
                    "kind": message.kind,
                    "origin": message.origin,
                    "key": message.key,
                    "quarantine_seq": held,
                },
                separators=(",", ":"),
            )
        )
