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


class FeedPlayer:
    def __init__(
        self,
        intake: FeedIntake,
        *,
        source: str,
        lanes: int = 64,
        speed: float | None = None,
        on_progress: Callable[[PlayReport], None] | None = None,
    ) -> None:
        """``speed``: event-time seconds per wall second (None: as fast as possible)."""
        self.intake = intake
        self.source = source
        self.lanes = lanes
        self.speed = speed
        self.on_progress = on_progress
        self._kept: dict[bytes, str] = {}

    async def play(self, messages: Sequence[FeedMessage]) -> PlayReport:
        report = PlayReport(messages=len(messages))
        queues: list[asyncio.Queue[FeedMessage | None]] = [
            asyncio.Queue(maxsize=256) for _ in range(self.lanes)
        ]
        started = time.perf_counter()
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
                await queues[lane].put(message)
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

    async def _payload_ref(self, raw: bytes) -> str:
        ref = self._kept.get(raw)
        if ref is None:
            ref = self._kept[raw] = await self.intake.keep_raw(raw)
        return ref

    async def _lane(self, queue: asyncio.Queue[FeedMessage | None], report: PlayReport) -> None:
        while (message := await queue.get()) is not None:
            try:
                provenance = Provenance(
                    source=self.source,
                    received_at=datetime.now(UTC),
                    source_event_id=message.key,
                    payload_ref=await self._payload_ref(message.raw),
                )
                accepted = await self.intake.submit(message.build(message.key, provenance))
            except DomainError as refusal:
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
                continue
            if accepted.duplicate:
                report.duplicates += 1
            else:
                report.accepted += 1
                report.events_stored += accepted.to_version - accepted.from_version + 1
