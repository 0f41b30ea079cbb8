"""One connected client: a bounded queue of frames that its connection drains.

The hub appends shared frame bytes; the connection's coroutine wakes, joins whatever queued and
sends it in one write. A client whose queue passes its byte limit is too slow: its queue is
dropped and it gets a final notice with no ``id:`` (so its Last-Event-ID stays the last frame it
really received), then the response ends and the client resumes exactly from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import orjson

from gateway.streams.cursor import Position, covers, render
from gateway.streams.events import with_id
from gateway.streams.filters import Entitlement, Filter, residual_check
from readmodels.live import Log, StreamEvent

# Why a stream ended, as the ``reason`` of its last frame and the metrics' label.
SLOW = "slow-consumer"
SHUTDOWN = "shutdown"
GONE = "client-gone"
UNAVAILABLE = "upstream-unavailable"


def notice(reason: str, detail: str, *, retry_ms: int | None = None) -> bytes:
    """A closing ``event: error`` without an id, with an optional ``retry:`` hint."""
    body = orjson.dumps({"code": reason, "detail": detail})
    retry = b"" if retry_ms is None else b"retry: %d\n" % retry_ms
    return retry + b"event: error\ndata: " + body + b"\n\n"


class Subscriber:
    __slots__ = (
        "closing",
        "endpoint",
        "entitlement",
        "filter",
        "floor",
        "limit",
        "logs",
        "pending",
        "pending_bytes",
        "reason",
        "sending_since",
        "task",
        "waiter",
        "wants",
    )

    def __init__(
        self,
        *,
        endpoint: str,
        logs: tuple[Log, ...],
        flt: Filter,
        entitlement: Entitlement | None,
        limit: int,
    ) -> None:
        self.endpoint = endpoint
        self.logs = logs
        self.filter = flt
        self.entitlement = entitlement
        self.wants: Callable[[StreamEvent], bool] | None = residual_check(flt, entitlement)
        self.limit = limit
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.waiter: asyncio.Future[None] | None = None
        self.closing = False
        self.reason = GONE
        self.floor: Position | None = None
        """Set while the client has seen further than the frames the hub sends (see offer)."""
        self.sending_since = 0.0
        self.task: asyncio.Task[object] | None = None

    def accepts(self, event: StreamEvent) -> bool:
        """The whole check, for events the index did not pick (replays): ``wants`` alone
        trusts the index key to have decided its own dimension."""
        entitlement = self.entitlement
        return self.filter.accepts(event) and (
            entitlement is None or entitlement.covers(event.sport, event.competition)
        )

    def push(self, frame: bytes) -> None:
        if self.closing:
            return
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        if self.pending_bytes > self.limit:
            self.end(SLOW, notice(SLOW, "the client read too slowly; resume with Last-Event-ID"))
            return
        self._wake()

    def offer(
        self, log: Log, event: StreamEvent, frame: bytes, body: bytes, head: Mapping[Log, int]
    ) -> None:
        """A live event the index found for this subscriber; ``head`` is the hub's position
        after it."""
        floor = self.floor
        if floor is not None:
            if event.seq <= floor.get(log, 0):
                return  # the client saw it already (it resumed from further than the hub was)
            if covers(head, floor):
                self.floor = None
            else:
                merged = {lg: max(head[lg], floor.get(lg, 0)) for lg in self.logs}
                frame = with_id(render(merged, self.logs), body)
        if self.wants is None or self.wants(event):
            self.push(frame)

    def end(self, reason: str, final: bytes = b"") -> None:
        """Stop taking frames; queued ones are dropped for a slow client, kept otherwise."""
        if self.closing:
            return
        self.closing = True
        self.reason = reason
        if reason in (SLOW, GONE, UNAVAILABLE):
            self.pending.clear()
            self.pending_bytes = 0
        if final:
            self.pending.append(final)
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def next_chunk(self) -> bytes | None:
        """Everything queued, as one write; None once the stream is over."""
        while not self.pending:
            if self.closing:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        pending = self.pending
        chunk = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self.pending_bytes = 0
        return chunk

    def mark_sending(self) -> None:
        self.sending_since = time.monotonic()

    def mark_sent(self) -> None:
        self.sending_since = 0.0
