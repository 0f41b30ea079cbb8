"""Group commit: concurrent multi-event saves share one atomic batch.

An atomic batch costs about 2 ms on the server whatever its size (shared/README), so one batch
per save caps throughput near 420 saves/s. Saves that arrive while a batch is in flight are
merged into the next one. Each save keeps its own checks: if a merged batch is rejected, every
save in it is retried alone, so a conflict is reported only to the save that caused it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from infra.eventstore.publish import (
    EXPECTED_LAST_SUBJECT_SEQUENCE,
    Channel,
    Message,
    PublishRejected,
    publish_atomic,
)

MAX_BATCH_MESSAGES = 1000  # nats-server's limit for one atomic batch


@dataclass
class BatchStats:
    """What group commit did so far (read by the benchmark)."""

    batches: int = 0  # atomic batches sent
    saves: int = 0  # saves they carried
    messages: int = 0  # messages they carried

    @property
    def saves_per_batch(self) -> float:
        return self.saves / self.batches if self.batches else 0.0

    @property
    def messages_per_batch(self) -> float:
        return self.messages / self.batches if self.batches else 0.0


@dataclass
class _Request:
    messages: list[Message]
    checked_subjects: frozenset[str]
    result: asyncio.Future[list[int]]
    alone: bool  # expects the stream's last sequence: only valid as a batch's first message


class BatchCoalescer:
    """One batch in flight at a time; saves queued meanwhile form the next one.

    The server commits a stream's atomic batches one after another, so a second batch in
    flight does not raise the batch rate: it only halves batch sizes (measured: 16-32 writers
    of 10-event saves, one in flight 1.2-1.7x the events/s of two). After a batch of several
    saves the next one waits briefly (at most ``linger`` and 30% of the last batch's round trip,
    and no longer than until twice as many saves queue as the last batch carried, so batches
    can grow), so the writers it just released can rejoin it rather than wait a whole round
    trip; a lone writer never waits.
    """

    _early_end = 2  # the wait ends once this many times the last batch's saves are queued

    def __init__(
        self,
        channel: Channel,
        *,
        timeout: float,
        max_in_flight: int = 1,
        linger: float = 0.005,
    ) -> None:
        self._channel = channel
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._linger = linger
        self._in_flight = 0
        self._queue: deque[_Request] = deque()
        self._linger_until: float | None = None
        self._linger_for = 0  # saves the last batch carried: enough queued ends the wait
        self._wake: asyncio.TimerHandle | None = None
        self.stats = BatchStats()

    async def commit(self, messages: list[Message], *, alone: bool = False) -> list[int]:
        """Store ``messages`` atomically; ``alone``: never merged with other saves."""
        checked = frozenset(
            m.subject for m in messages if EXPECTED_LAST_SUBJECT_SEQUENCE in m.headers
        )
        loop = asyncio.get_running_loop()
        request = _Request(messages, checked, loop.create_future(), alone)
        self._queue.append(request)
        self._kick()
        return await request.result

    def _kick(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            if self._lingering():
                return
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._flush(self._take_group()))
            task.add_done_callback(lambda _: None)

    def _lingering(self) -> bool:
        until = self._linger_until
        if until is None:
            return False
        loop = asyncio.get_running_loop()
        if loop.time() >= until or len(self._queue) >= self._early_end * self._linger_for:
            self._linger_until = None
            if self._wake is not None:
                self._wake.cancel()
                self._wake = None
            return False
        if self._wake is None:
            self._wake = loop.call_at(until, self._end_linger)
        return True

    def _end_linger(self) -> None:
        self._wake = None
        self._linger_until = None
        self._kick()

    def _take_group(self) -> list[_Request]:
        group = [self._queue.popleft()]
        if group[0].alone:
            return group
        size = len(group[0].messages)
        checked = set(group[0].checked_subjects)
        skipped: list[_Request] = []
        while self._queue:
            candidate = self._queue.popleft()
            # Two checks on one subject in one batch are refused by the server: next batch.
            if (
                candidate.alone
                or size + len(candidate.messages) > MAX_BATCH_MESSAGES
                or checked & candidate.checked_subjects
            ):
                skipped.append(candidate)
                if size >= MAX_BATCH_MESSAGES:
                    break
                continue
            group.append(candidate)
            size += len(candidate.messages)
            checked |= candidate.checked_subjects
        self._queue.extendleft(reversed(skipped))
        return group

    async def _flush(self, group: list[_Request]) -> None:
        started = asyncio.get_running_loop().time()
        stats = self.stats
        stats.batches += 1
        stats.saves += len(group)
        stats.messages += sum(len(r.messages) for r in group)
        try:
            if len(group) == 1:
                await self._alone(group[0])
                return
            messages = [m for r in group for m in r.messages]
            try:
                seqs = await publish_atomic(self._channel, messages, ack_wait=self._timeout)
            except PublishRejected:
                await asyncio.gather(*(self._alone(r) for r in group))
                return
            except Exception as exc:
                for r in group:
                    _settle_error(r, exc)
                return
            offset = 0
            for r in group:
                if not r.result.done():
                    r.result.set_result(seqs[offset : offset + len(r.messages)])
                offset += len(r.messages)
        finally:
            self._in_flight -= 1
            if len(group) > 1 and self._linger > 0:
                now = asyncio.get_running_loop().time()
                self._linger_until = now + min(self._linger, 0.3 * (now - started))
                self._linger_for = len(group)
            self._kick()

    async def _alone(self, request: _Request) -> None:
        try:
            seqs = await publish_atomic(self._channel, request.messages, ack_wait=self._timeout)
        except Exception as exc:
            _settle_error(request, exc)
        else:
            if not request.result.done():
                request.result.set_result(seqs)


def _settle_error(request: _Request, exc: Exception) -> None:
    if not request.result.done():
        request.result.set_exception(exc)
