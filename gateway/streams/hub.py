"""The fan-out hub of one gateway process: one upstream consumer per log, many subscribers.

Each upstream event is encoded once (``frame_body``) and its bytes are handed to every matching
subscriber; the filter index finds those without looking at the others. A replay buffer keeps
the recent events of each log so that a resume usually needs no read at all; older history is
read from JetStream for that client alone, then it joins the buffer and the live flow in one
step without an ``await`` (nothing can be published in between: no gap, no duplicate).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from gateway.streams.cursor import Position, covers, render
from gateway.streams.endpoints import ALL, ENDPOINT_OF_KIND, ENDPOINTS, Endpoint
from gateway.streams.events import HEARTBEAT, frame_body, with_id
from gateway.streams.filters import FilterIndex
from gateway.streams.metrics import StreamMetrics
from gateway.streams.subscriber import SHUTDOWN, UNAVAILABLE, Subscriber, notice
from gateway.streams.tracing import fan_out_span
from readmodels.live import EventLog, Log, LogUnavailable, StreamEvent

log = logging.getLogger("sportcast.streams")


@dataclass(frozen=True, kw_only=True)
class HubSettings:
    heartbeat_seconds: float = 15.0
    buffer_events: int = 10_000
    """Recent events kept per log for resumes."""
    replay_limit: int = 1_000_000
    """A Last-Event-ID further than this many stream messages behind is answered with a reset."""
    client_buffer_bytes: int = 256 * 1024
    send_timeout_seconds: float = 30.0
    """A connection blocked this long in one write (a client that stopped reading) is cut."""
    retry_ms: int = 2000
    """The ``retry:`` hint sent at shutdown (each client gets up to twice this, jittered)."""
    history_page: int = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    log: Log
    seq: int
    order: int
    event: StreamEvent
    own: bytes
    """The frame for the event's own endpoint (id = its sequence)."""
    merged: bytes
    """The frame for ``/all`` (id = the cursor after it)."""
    cursor: tuple[int, int]
    body: bytes


Send = Callable[[bytes], Awaitable[None]]


class Hub:
    def __init__(
        self,
        logs: Mapping[Log, EventLog],
        settings: HubSettings | None = None,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.logs = dict(logs)
        self.settings = settings or HubSettings()
        self.metrics = metrics or StreamMetrics(None)
        self.heads: Position = {lg: 0 for lg in Log}
        self.buffer_from: Position = {lg: 0 for lg in Log}
        self.buffers: dict[Log, deque[Entry]] = {lg: deque() for lg in Log}
        self.indexes: dict[str, FilterIndex[Subscriber]] = {
            name: FilterIndex() for name in ENDPOINTS
        }
        self.subscribers: set[Subscriber] = set()
        self.closed = False
        self.frames_sent = 0
        self._order = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._should_exit: Callable[[], bool] = lambda: False

    # -- life -----------------------------------------------------------------------------

    async def start(self, *, should_exit: Callable[[], bool] | None = None) -> None:
        """Follow every log from its current end; ``should_exit`` is polled for a shutdown
        that the server started (SIGTERM) before the app's lifespan ends."""
        if should_exit is not None:
            self._should_exit = should_exit
        for lg, source in self.logs.items():
            _, last = await source.bounds()
            self.heads[lg] = self.buffer_from[lg] = last
        for lg in self.logs:
            self._tasks.append(asyncio.create_task(self._pump(lg), name=f"sse-pump-{lg}"))
        self._tasks.append(asyncio.create_task(self._tick(), name="sse-tick"))

    async def stop(self) -> None:
        self.shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def shutdown(self) -> None:
        """End every stream with a jittered ``retry:`` hint; refuse new ones the same way."""
        if self.closed:
            return
        self.closed = True
        for sub in list(self.subscribers):
            sub.end(SHUTDOWN, self.shutdown_notice())

    def shutdown_notice(self) -> bytes:
        retry = self.settings.retry_ms + random.randrange(self.settings.retry_ms + 1)  # noqa: S311
        return notice(SHUTDOWN, "the gateway is restarting; reconnect", retry_ms=retry)

    def unavailable_notice(self) -> bytes:
        retry = self.settings.retry_ms + random.randrange(self.settings.retry_ms + 1)  # noqa: S311
        return notice(UNAVAILABLE, "the event store did not answer; reconnect", retry_ms=retry)

    async def _pump(self, lg: Log) -> None:
        """Follow ``lg`` for good. While it fails (NATS down: every second) each distinct error
        is logged once, a fault's with its traceback, an outage's in one line; one line again
        when events come."""
        source = self.logs[lg]
        failing: set[str] = set()
        since = 0.0
        while True:
            try:
                async for seq, event in source.follow(self.heads[lg]):
                    if failing:
                        failing.clear()
                        took = time.monotonic() - since
                        log.warning("following the %s log again (after %.0f s)", lg, took)
                    self.publish(lg, seq, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if not failing:
                    since = time.monotonic()
                if text not in failing:
                    failing.add(text)
                    if isinstance(exc, LogUnavailable):
                        log.warning("cannot follow the %s log (%s); trying every second", lg, exc)
                    else:
                        log.exception("following the %s log failed; following again in 1 s", lg)
                await asyncio.sleep(1.0)

    async def _tick(self) -> None:
        every = self.settings.heartbeat_seconds
        next_beat = time.monotonic() + every
        while True:
            await asyncio.sleep(min(0.5, every))
            if not self.closed and self._should_exit():
                self.shutdown()
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + every
                for sub in self.subscribers:
                    sub.push(HEARTBEAT)
            self._cut_stuck(now)

    def _cut_stuck(self, now: float) -> None:
        limit = self.settings.send_timeout_seconds
        for sub in self.subscribers:
            since = sub.sending_since
            if since and now - since > limit and sub.task is not None:
                sub.sending_since = 0.0
                self.metrics.disconnected(sub.endpoint, "stuck")
                sub.task.cancel()

    # -- live -----------------------------------------------------------------------------

    def publish(self, lg: Log, seq: int, event: StreamEvent | None) -> None:
        """One message of log ``lg``, in order: fan it out, keep it for resumes."""
        heads = self.heads
        heads[lg] = seq
        if event is None:
            return
        body = frame_body(event)
        own = with_id(str(seq), body)
        cursor = (heads[Log.EVENTS], heads[Log.FORECASTS])
        merged = b"id: %d-%d\n" % cursor + body
        self._order += 1
        buffer = self.buffers[lg]
        buffer.append(Entry(lg, seq, self._order, event, own, merged, cursor, body))
        if len(buffer) > self.settings.buffer_events:
            self.buffer_from[lg] = buffer.popleft().seq
        if event.trace:
            with fan_out_span(lg, event) as span:
                span.set_attribute(
                    "sportcast.sse.candidates", self._fan_out(lg, event, own, merged, body)
                )
        else:
            self._fan_out(lg, event, own, merged, body)
        if event.stored_ns:
            self.metrics.delivered(lg, event.stored_ns)

    def _fan_out(self, lg: Log, event: StreamEvent, own: bytes, merged: bytes, body: bytes) -> int:
        """Offer the event to every subscriber whose filters may want it; how many those were."""
        heads = self.heads
        offered = 0
        endpoint = ENDPOINT_OF_KIND[event.kind]
        for members in self.indexes[endpoint].candidates(event):
            offered += len(members)
            for sub in members:
                sub.offer(lg, event, own, body, heads)
        for members in self.indexes[ALL].candidates(event):
            offered += len(members)
            for sub in members:
                sub.offer(lg, event, merged, body, heads)
        return offered

    # -- joining --------------------------------------------------------------------------

    async def reset_reason(self, endpoint: Endpoint, position: Position) -> str | None:
        """Why a resume from ``position`` cannot be exact (None: it can)."""
        for lg in endpoint.logs:
            seq = position[lg]
            if seq > self.heads[lg] or seq < self.buffer_from[lg]:
                first, last = await self.logs[lg].bounds()
                if seq > max(last, self.heads[lg]):
                    return "ahead-of-log"
                if first > 1 and seq < first - 1:
                    return "too-old"
            if self.heads[lg] - seq > self.settings.replay_limit:
                return "too-old"
        return None

    async def catch_up(
        self, sub: Subscriber, endpoint: Endpoint, position: Position, send: Send
    ) -> None:
        """Send ``sub`` what it missed from before the replay buffer, read from JetStream; on
        return ``position`` is within every buffer (call ``join`` before any other await)."""
        page = self.settings.history_page
        while not sub.closing:
            behind = [lg for lg in endpoint.logs if position[lg] < self.buffer_from[lg]]
            if not behind:
                return
            lg = behind[0]
            events, examined = await self.logs[lg].read(
                after=position[lg], up_to=self.buffer_from[lg], limit=page
            )
            frames = []
            for event in events:
                position[lg] = event.seq
                if event.kind in endpoint.kinds and sub.accepts(event):
                    frames.append(with_id(render(position, endpoint.logs), frame_body(event)))
            position[lg] = max(position[lg], examined)
            if frames:
                sub.mark_sending()
                await send(b"".join(frames))
                sub.mark_sent()
                self.frames_sent += len(frames)

    def join(self, sub: Subscriber, endpoint: Endpoint, position: Position | None) -> None:
        """Replay the buffered events after ``position`` to ``sub`` and add it to the live flow
        (None: from now). Synchronous: nothing is published in between."""
        if position is not None:
            for entry in self._buffered_after(endpoint, position):
                if entry.event.kind not in endpoint.kinds or not sub.accepts(entry.event):
                    continue
                if len(endpoint.logs) == 1:
                    sub.push(entry.own)
                    continue
                at = (
                    max(entry.cursor[0], position[Log.EVENTS]),
                    max(entry.cursor[1], position[Log.FORECASTS]),
                )
                sub.push(b"id: %d-%d\n" % at + entry.body)
            if not covers(self.heads, position):
                sub.floor = {lg: position[lg] for lg in endpoint.logs}
        self.indexes[endpoint.name].add(sub, sub.filter)
        self.subscribers.add(sub)
        self.metrics.connected(endpoint.name)

    def recent_position(self, sub: Subscriber, endpoint: Endpoint, count: int) -> Position:
        """The position just before the ``count`` most recent buffered events ``sub`` would
        be sent (all of the buffer when it holds fewer): a new client joined from there sees
        them at once, then the live flow, with the ids of an exact resume."""
        position = {lg: self.heads[lg] for lg in endpoint.logs}
        if count <= 0:
            return position
        entries = self._buffered_after(endpoint, {lg: self.buffer_from[lg] for lg in endpoint.logs})
        found = 0
        for entry in reversed(entries):
            if entry.event.kind not in endpoint.kinds or not sub.accepts(entry.event):
                continue
            found += 1
            if found == count:
                if len(endpoint.logs) > 1:  # the other log as it stood when this one came
                    position = {Log.EVENTS: entry.cursor[0], Log.FORECASTS: entry.cursor[1]}
                position[entry.log] = entry.seq - 1
                return position
        return {lg: self.buffer_from[lg] for lg in endpoint.logs}

    def _buffered_after(self, endpoint: Endpoint, position: Position) -> list[Entry]:
        runs = []
        for lg in endpoint.logs:
            buffer = self.buffers[lg]
            start = bisect.bisect_right(buffer, position[lg], key=lambda e: e.seq)
            runs.append([buffer[i] for i in range(start, len(buffer))])
        if len(runs) == 1:
            return runs[0]
        return list(heapq.merge(*runs, key=lambda e: e.order))

    def leave(self, sub: Subscriber, endpoint: Endpoint) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.indexes[endpoint.name].remove(sub, sub.filter)
            self.metrics.disconnected(endpoint.name, sub.reason)

    def head_id(self, endpoint: Endpoint) -> str:
        return render(self.heads, endpoint.logs)
