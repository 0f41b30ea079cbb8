"""One connected client: frames written to its connection as the hub fans them out.

The hub hands each subscriber the shared frame bytes; the subscriber writes them to its
connection in the hub's own call (``writes.write_now``): an idle client costs no task wake-up
per frame. The hub flushes every subscriber with frames pending a few milliseconds after the
first (``HubSettings.flush_seconds``), so that the frames of a burst (a goal and its
forecasts) or of a busy stream leave in one write, not one write (and one wake-up of the
client) each. Only while its connection cannot take more (the transport's buffer is above
its high-water mark: a client reading slowly, or one catching up) do frames wait in ``pending``,
and a write in progress finishes in a task; when it is done everything pending goes in one
write. A client whose pending bytes pass the limit is too slow: they are dropped and it gets a
final notice with no ``id:`` (so its Last-Event-ID stays the last frame it really received),
then the response ends and the client resumes exactly from there.

Where the server hands the connection over (``gateway.streams.handover``), the subscriber is
the transport's protocol: it writes the chunked body to the transport itself, waits while the
transport is paused above its high-water mark (``pause_writing``), and learns of the client
leaving from ``connection_lost``; no ASGI object and no task stay behind for an idle client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import orjson

from gateway.streams.cursor import Position, covers, render
from gateway.streams.events import with_id
from gateway.streams.filters import Entitlement, Filter, residual_check
from gateway.streams.handover import LAST_CHUNK, chunk
from gateway.streams.writes import AsgiSend, body, write_now
from readmodels.live import Log, StreamEvent

if TYPE_CHECKING:
    from gateway.streams.hub import Hub

log = logging.getLogger("sportcast.streams")

# Why a stream ended, as the ``reason`` of its last frame and the metrics' label.
SLOW = "slow-consumer"
SHUTDOWN = "shutdown"
GONE = "client-gone"
UNAVAILABLE = "upstream-unavailable"


def notice(reason: str, detail: str, *, retry_ms: int | None = None) -> bytes:
    """A closing ``event: error`` without an id, with an optional ``retry:`` hint."""
    data = orjson.dumps({"code": reason, "detail": detail})
    retry = b"" if retry_ms is None else b"retry: %d\n" % retry_ms
    return retry + b"event: error\ndata: " + data + b"\n\n"


class Subscriber(asyncio.Protocol):
    """Also the protocol of its connection's transport once the server handed it over."""

    __slots__ = (
        "beat",
        "closing",
        "due",
        "ending",
        "endpoint",
        "entitlement",
        "filter",
        "finished",
        "floor",
        "hub",
        "limit",
        "logs",
        "lost",
        "pending",
        "pending_bytes",
        "queued",
        "reason",
        "release",
        "send",
        "sending_since",
        "serving",
        "task",
        "transport",
        "wants",
        "writing",
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
        self.send: AsgiSend | None = None
        """The connection's ASGI send (None: not attached yet, frames wait in ``pending``)."""
        self.transport: asyncio.Transport | None = None
        """The connection itself, once the server handed it over (then ``send`` stays None)."""
        self.writing: asyncio.Future[None] | None = None
        """A write the transport could not take at once, finishing in a task (ASGI); or, on a
        handed-over transport, done when it takes more again."""
        self.closing = False
        self.ending = False
        """The response's end is still to be written (after ``pending``)."""
        self.reason = GONE
        self.floor: Position | None = None
        """Set while the client has seen further than the frames the hub sends (see offer)."""
        self.sending_since = 0.0
        self.task: asyncio.Task[object] | None = None
        self.beat = 0
        """The hub's heartbeat slot."""
        self.due: Callable[[Subscriber], None] | None = None
        """Hands this subscriber to the hub's next flush (None: write at once)."""
        self.queued = False
        """Handed to ``due`` and not flushed yet."""
        self.hub: Hub | None = None
        """The hub it joined (``finish`` leaves it)."""
        self.release: Callable[[], None] | None = None
        """Gives the caller's connection back (access control) when the stream is finished."""
        self.lost = False
        """The handed-over connection is closed."""
        self.serving = True
        """The request's coroutine still runs (then it finishes the stream, not the connection)."""
        self.finished = False

    def accepts(self, event: StreamEvent) -> bool:
        """The whole check, for events the index did not pick (replays): ``wants`` alone
        trusts the index key to have decided its own dimension."""
        entitlement = self.entitlement
        return self.filter.accepts(event) and (
            entitlement is None or entitlement.covers(event.sport, event.competition)
        )

    # -- frames in --------------------------------------------------------------------------

    def push(self, frame: bytes) -> None:
        if self.closing:
            return
        self._queue(frame)
        self._go()

    def push_all(self, frames: Iterable[bytes]) -> None:
        """Several frames in order (in one write)."""
        if self.closing:
            return
        for frame in frames:
            self._queue(frame)
        self._go()

    def _queue(self, frame: bytes) -> None:
        if self.closing:
            return
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        if self.pending_bytes > self.limit:
            self.end(SLOW, notice(SLOW, "the client read too slowly; resume with Last-Event-ID"))

    def _go(self) -> None:
        """Write what is pending now, or at the hub's next flush (``due``); a write in progress
        takes it when it is done."""
        if self.writing is not None or self.queued or not self.pending:
            return
        if self.send is None and self.transport is None:
            return
        if self.due is None:
            self.flush()
        else:
            self.queued = True
            self.due(self)

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
        """Stop taking frames and end the response (after what is pending, which is dropped for
        a slow client); nothing more is written to a client that is gone."""
        if self.closing:
            return
        self.closing = True
        self.reason = reason
        if reason in (SLOW, GONE, UNAVAILABLE):
            self.pending.clear()
            self.pending_bytes = 0
        if reason == GONE:
            if self.transport is not None and not self.lost:
                self.transport.close()  # the stream was given up before the client left
            return
        if final:
            self.pending.append(final)
        self.ending = True
        self.flush()

    # -- frames out -------------------------------------------------------------------------

    def attach(self, send: AsgiSend) -> None:
        """Write to the connection from now on (what is pending first)."""
        self.send = send
        self.flush()

    def attach_transport(self, transport: asyncio.Transport) -> None:
        """Write to the handed-over connection from now on (this subscriber is its protocol)."""
        self.transport = transport
        self.flush()

    def flush(self) -> None:
        """Write everything pending (and the response's end once it is due), unless a write is
        in progress (then that write's end does it)."""
        self.queued = False
        while (self.send is not None or self.transport is not None) and self.writing is None:
            if self.pending:
                pending = self.pending
                chunk = pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                self.pending_bytes = 0
                self._write(chunk)
            elif self.ending:
                self.ending = False
                self._write(b"", more=False)
            else:
                return

    def _write(self, data: bytes, *, more: bool = True) -> None:
        transport = self.transport
        if transport is not None:
            if transport.is_closing():  # the client left and connection_lost is on its way
                self.closing = True
                self.ending = False
                self.pending.clear()
                self.pending_bytes = 0
                return
            try:
                transport.write((chunk(data) if data else b"") + (b"" if more else LAST_CHUNK))
            except Exception:
                log.exception("writing to a stream failed; ending it")
                self._broken()
                return
            if not more:
                transport.close()  # after what is buffered
            return
        send = self.send
        assert send is not None
        try:
            writing = write_now(send, body(data, more=more))
        except Exception:
            log.exception("writing to a stream failed; ending it")
            self._broken()
            return
        if writing is not None:
            self.writing = writing
            self.sending_since = time.monotonic()
            writing.add_done_callback(self._written)

    def _written(self, writing: asyncio.Future[None]) -> None:
        self.writing = None
        self.sending_since = 0.0
        if writing.cancelled() or writing.exception() is not None:
            self._broken()
            return
        self.flush()

    def _broken(self) -> None:
        """The connection cannot be written to: end the request."""
        self.closing = True
        self.ending = False
        self.pending.clear()
        self.pending_bytes = 0
        if self.transport is not None:
            self.transport.abort()
            return
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    def cut(self) -> None:
        """A write stuck past the send timeout (a client that stopped reading): drop it."""
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows
            return
        cut = self.writing or self.task
        if cut is not None:
            cut.cancel()

    async def write_piece(self, data: bytes) -> None:
        """A piece of a catch-up (before joining): written, then returns once the connection
        takes more (or is gone)."""
        if self.transport is None:
            assert self.send is not None
            await self.send(body(data))
            return
        self._write(data)
        if self.writing is not None:
            await self.writing

    def mark_sending(self) -> None:
        self.sending_since = time.monotonic()

    def mark_sent(self) -> None:
        self.sending_since = 0.0

    def finish(self) -> None:
        """The stream is over (once): leave the hub, give the caller's connection back."""
        if self.finished:
            return
        self.finished = True
        if self.hub is not None:
            self.hub.leave(self)
        if self.release is not None:
            self.release()

    # -- the handed-over transport's protocol (asyncio.Protocol) ----------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.end(GONE)
        self.pending.clear()  # a stream ending as the client left: nothing more to write
        self.pending_bytes = 0
        self.ending = False
        self._unblock()
        if not self.serving:
            self.finish()

    def data_received(self, data: bytes) -> None:
        """A stream's client has nothing more to say; whatever it sends is not read."""

    def eof_received(self) -> bool | None:
        return None  # the client is done: the transport closes

    def pause_writing(self) -> None:
        if self.writing is None:
            self.writing = asyncio.get_running_loop().create_future()
            self.sending_since = time.monotonic()

    def resume_writing(self) -> None:
        # Not in the transport's own call: asyncio's transport goes on after it, and a close or
        # an abort from in here (a stream ending) would end the connection twice.
        asyncio.get_running_loop().call_soon(self._resumed)

    def _resumed(self) -> None:
        self._unblock()
        self.flush()

    def _unblock(self) -> None:
        writing, self.writing = self.writing, None
        self.sending_since = 0.0
        if writing is not None and not writing.done():
            writing.set_result(None)

    def shutdown(self) -> None:
        """The server shuts down (uvicorn's graceful shutdown): the hub ends every stream."""
        if self.hub is not None:
            self.hub.shutdown()
