"""Plays feed messages into the intake: in event time at X times real speed, or as fast as
possible, keeping each fixture's messages in order while different fixtures go in parallel.

Refusals (a command that cannot be built, or that the domain refuses) are quarantined with the
raw source bytes and the reason; nothing refused is half-written, nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from commands.ingestion import Accepted, FeedCommand
from domain.errors import DomainError
from domain.provenance import Provenance
from gateway.ports import FeedIntake
from infra.feeds.messages import FeedMessage


@dataclass
class PlayReport:
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    events_stored: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refused_origins: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events_stored / self.seconds if self.seconds else 0.0


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
    ) -> None:
        """``speed``: event-time seconds per wall second (None: as fast as possible).
        ``run``: at most this many messages already waiting in a lane go into one save.
        ``window``: message n is dispatched only once every message before n - window is
        stored (default 4 per lane), so the store's order strays from event-time order by at
        most ``window`` messages: consumers that follow the log (the forecaster) see the feed
        as it happened, not fast lanes racing ahead of slow ones."""
        self.intake = intake
        self.source = source
        self.lanes = lanes
        self.speed = speed
        self.run = run
        self.window = window or 4 * lanes
        self.on_progress = on_progress
        self._kept: dict[bytes, str] = {}

    async def play(self, messages: Sequence[FeedMessage]) -> PlayReport:
        report = PlayReport(messages=len(messages))
        queues: list[asyncio.Queue[tuple[int, FeedMessage] | None]] = [
            asyncio.Queue(maxsize=256) for _ in range(self.lanes)
        ]
        started = time.perf_counter()
        self._stored = bytearray(len(messages))
        self._low = 0  # every message before this index is stored
        self._progress = asyncio.Condition()
        self._failure: Exception | None = None
        workers = [asyncio.create_task(self._lane(q, report)) for q in queues]
        try:
            first = messages[0].at if messages else None
            for n, message in enumerate(messages):
                if self.speed is not None and first is not None:
                    due = (message.at - first).total_seconds() / self.speed
                    delay = due - (time.perf_counter() - started)
                    if delay > 0:
                        await asyncio.sleep(delay)
                lane = zlib.crc32(message.partition.encode()) % self.lanes
                await self._wait_for_room(n)
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
        report.seconds = time.perf_counter() - started
        return report

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
        # Keep the run's raw payloads concurrently: one round trip for the run, not one each.
        fresh = list({m.raw: None for m in batch if m.raw not in self._kept})
        refs = await asyncio.gather(*(self.intake.keep_raw(raw) for raw in fresh))
        self._kept.update(zip(fresh, refs, strict=True))
        built: list[tuple[FeedMessage, FeedCommand]] = []
        for message in batch:
            try:
                provenance = Provenance(
                    source=self.source,
                    received_at=datetime.now(UTC),
                    source_event_id=message.key,
                    payload_ref=self._kept[message.raw],
                )
                built.append((message, message.build(message.key, provenance)))
            except DomainError as refusal:
                await self._refuse(message, refusal, report)
        if not built:
            return
        outcomes = await self.intake.submit_many([command for _, command in built])
        for (message, _), outcome in zip(built, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                await self._refuse(message, outcome, report)
            elif outcome.duplicate:
                report.duplicates += 1
            else:
                report.accepted += 1
                report.events_stored += outcome.to_version - outcome.from_version + 1

    async def _refuse(self, message: FeedMessage, refusal: DomainError, report: PlayReport) -> None:
        report.refused[refusal.code] += 1
        report.refused_origins.add(message.origin)
        await self.intake.quarantine(
            raw=message.raw,
            source=self.source,
            kind=message.kind,
            reason_code=refusal.code,
            reason=str(refusal),
            origin=message.origin,
            key=message.key,
        )
