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

from nats.aio.client import Client as NATS

from infra.eventstore.publish import (
    EXPECTED_LAST_SUBJECT_SEQUENCE,
    Message,
    PublishRejected,
    publish_atomic,
)

MAX_BATCH_MESSAGES = 1000  # nats-server's limit for one atomic batch


@dataclass
class _Request:
    messages: list[Message]
    checked_subjects: frozenset[str]
    result: asyncio.Future[list[int]]


class BatchCoalescer:
    def __init__(self, nc: NATS, *, timeout: float, max_in_flight: int = 2) -> None:
        self._nc = nc
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._queue: deque[_Request] = deque()

    async def commit(self, messages: list[Message]) -> list[int]:
        checked = frozenset(
            m.subject for m in messages if EXPECTED_LAST_SUBJECT_SEQUENCE in m.headers
        )
        request = _Request(messages, checked, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._kick()
        return await request.result

    def _kick(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._flush(self._take_group()))
            task.add_done_callback(lambda _: None)

    def _take_group(self) -> list[_Request]:
        group = [self._queue.popleft()]
        size = len(group[0].messages)
        checked = set(group[0].checked_subjects)
        skipped: list[_Request] = []
        while self._queue:
            candidate = self._queue.popleft()
            # Two checks on one subject in one batch are refused by the server: next batch.
            if size + len(candidate.messages) > MAX_BATCH_MESSAGES or (
                checked & candidate.checked_subjects
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
        try:
            if len(group) == 1:
                await self._alone(group[0])
                return
            messages = [m for r in group for m in r.messages]
            try:
                seqs = await publish_atomic(self._nc, messages, ack_wait=self._timeout)
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
            self._kick()

    async def _alone(self, request: _Request) -> None:
        try:
            seqs = await publish_atomic(self._nc, request.messages, ack_wait=self._timeout)
        except Exception as exc:
            _settle_error(request, exc)
        else:
            if not request.result.done():
                request.result.set_result(seqs)


def _settle_error(request: _Request, exc: Exception) -> None:
    if not request.result.done():
        request.result.set_exception(exc)
