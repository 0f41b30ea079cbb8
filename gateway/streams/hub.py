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
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
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
    flush_seconds: float = 0.02
    """Frames for a subscriber within this long of its first pending one leave in one write
    (0: each at once)."""


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

TICK = 0.5
"""Seconds between the hub's checks (shutdown, stuck writes, a slot of heartbeats)."""
JOIN_ENTRIES = 256
"""A resume with at most this many buffered events to go is sent them in one write as it
joins; with more (or history older than the buffer) it catches up first, in pieces."""
PIECE_BYTES = 64 * 1024
PIECE_EVENTS = 4096
"""Buffered events looked at for one piece of a catch-up at most (a narrow filter takes few)."""
_UNBOUNDED = 1 << 62


def _seq(entry: Entry) -> int:
    return entry.seq


def _order(entry: Entry) -> int:
    return entry.order


_DIMENSIONS = ("fixture", "competition", "sport")
"""What the replay buffer is indexed by (a model filter lets odds and match events through:
it narrows nothing)."""


def _keys(event: StreamEvent) -> Iterator[tuple[str, str]]:
    for name, value in zip(
        _DIMENSIONS, (event.fixture, event.competition, event.sport), strict=True
    ):
        if value:
            yield name, value


def _narrow(sub: Subscriber) -> tuple[str, frozenset[str]] | None:
    """The buffer index a resume of ``sub`` may read instead of the whole buffer."""
    name, values = sub.filter.key()
    return (name, values) if name in _DIMENSIONS else None


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
        self.keyed: dict[Log, dict[tuple[str, str], deque[Entry]]] = {lg: {} for lg in Log}
        """The buffered entries of each log by fixture, competition and sport (in log order):
        a resume under a narrow filter looks at its own events only."""
        self.indexes: dict[str, FilterIndex[Subscriber]] = {
            name: FilterIndex() for name in ENDPOINTS
        }
        self.subscribers: set[Subscriber] = set()
        self.closed = False
        self.frames_sent = 0
        self._order = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._tick_seconds = min(TICK, self.settings.heartbeat_seconds)
        slots = max(1, round(self.settings.heartbeat_seconds / self._tick_seconds))
        self.beats: list[set[Subscriber]] = [set() for _ in range(slots)]
        self._joined = 0
        self.due: list[Subscriber] = []
        self._due_hook = self._due  # one bound method shared by every subscriber
        self._flushing: asyncio.TimerHandle | None = None
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
        if self._flushing is not None:
            self._flushing.cancel()
            self._flush_due()
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
        """Every ``TICK`` s: the shutdown poll, stuck writes, and the heartbeats of one slot of
        subscribers (each subscriber's every ``heartbeat_seconds``, spread over the period
        instead of 10,000 writes at once)."""
        slot = 0
        while True:
            await asyncio.sleep(self._tick_seconds)
            if not self.closed and self._should_exit():
                self.shutdown()
            slot = (slot + 1) % len(self.beats)
            for sub in list(self.beats[slot]):
                sub.push(HEARTBEAT)
            self._cut_stuck(time.monotonic())

    def _cut_stuck(self, now: float) -> None:
        limit = self.settings.send_timeout_seconds
        for sub in self.subscribers:
            since = sub.sending_since
            if since and now - since > limit:
                sub.sending_since = 0.0
                self.metrics.disconnected(sub.endpoint, "stuck")
                sub.cut()

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
        entry = Entry(lg, seq, self._order, event, own, merged, cursor, body)
        buffer.append(entry)
        keyed = self.keyed[lg]
        for key in _keys(event):
            runs = keyed.get(key)
            if runs is None:
                keyed[key] = deque((entry,))
            else:
                runs.append(entry)
        if len(buffer) > self.settings.buffer_events:
            gone = buffer.popleft()
            self.buffer_from[lg] = gone.seq
            for key in _keys(gone.event):
                runs = keyed[key]
                runs.popleft()  # the oldest of its keys too: entries go in and out in order
                if not runs:
                    del keyed[key]
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

    def _due(self, sub: Subscriber) -> None:
        self.due.append(sub)
        if self._flushing is None:
            loop = asyncio.get_running_loop()
            self._flushing = loop.call_later(self.settings.flush_seconds, self._flush_due)

    def _flush_due(self) -> None:
        self._flushing = None
        due, self.due = self.due, []
        for sub in due:
            sub.flush()

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

    def must_catch_up(self, endpoint: Endpoint, position: Position) -> bool:
        """Whether a resume from ``position`` has more to send than one write at join."""
        behind = 0
        for lg in endpoint.logs:
            if position[lg] < self.buffer_from[lg]:
                return True
            buffer = self.buffers[lg]
            behind += len(buffer) - bisect.bisect_right(buffer, position[lg], key=_seq)
        return behind > JOIN_ENTRIES

    async def catch_up(
        self, sub: Subscriber, endpoint: Endpoint, position: Position, send: Send
    ) -> None:
        """Send ``sub`` what it missed, in pieces at its own pace: what is older than the replay
        buffer read from JetStream, then the buffer, until at most ``JOIN_ENTRIES`` buffered
        events are left; on return call ``join`` before any other await."""
        page = self.settings.history_page
        while not sub.closing:
            behind = [lg for lg in endpoint.logs if position[lg] < self.buffer_from[lg]]
            if behind:
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
            elif self.must_catch_up(endpoint, position):
                frames = self._replay(sub, endpoint, position, PIECE_BYTES, PIECE_EVENTS)
            else:
                return
            if frames:
                sub.mark_sending()
                await send(b"".join(frames))
                sub.mark_sent()
                self.frames_sent += len(frames)
            else:
                await asyncio.sleep(0)  # events looked at, none for this client: let others run

    def _replay(
        self,
        sub: Subscriber,
        endpoint: Endpoint,
        position: Position,
        budget: int,
        examine: int = _UNBOUNDED,
    ) -> list[bytes]:
        """The frames of the buffered events after ``position`` that ``sub`` takes, up to
        about ``budget`` bytes and ``examine`` events looked at; ``position`` moves past the
        events looked at. (The hot loop of a reconnect storm: kept plain.)"""
        frames: list[bytes] = []
        size = 0
        wanted = sub.filter.accepts
        entitlement = sub.entitlement
        kinds = endpoint.kinds
        narrow = _narrow(sub)
        if len(endpoint.logs) == 1:
            lg = endpoint.logs[0]
            for entry in self._after(lg, position[lg], narrow):
                position[lg] = entry.seq
                event = entry.event
                examine -= 1
                if (
                    event.kind in kinds
                    and wanted(event)
                    and (entitlement is None or entitlement.covers(event.sport, event.competition))
                ):
                    frames.append(entry.own)
                    size += len(entry.own)
                    if size >= budget:
                        break
                if examine <= 0:
                    break
            else:  # every buffered event it may want was looked at: the others it skips
                buffer = self.buffers[lg]
                if buffer:
                    position[lg] = max(position[lg], buffer[-1].seq)
            return frames
        # /all: the two buffers merged in the order the hub published them.
        seen_e, seen_f = position[Log.EVENTS], position[Log.FORECASTS]
        events = self._after(Log.EVENTS, seen_e, narrow)
        forecasts = self._after(Log.FORECASTS, seen_f, narrow)
        e = next(events, None)
        f = next(forecasts, None)
        looked_at_all = True
        while e is not None or f is not None:
            if f is None or (e is not None and e.order < f.order):
                assert e is not None
                here, e = e, next(events, None)
            else:
                here, f = f, next(forecasts, None)
            at_e, at_f = here.cursor
            shared = at_e >= seen_e and at_f >= seen_f  # the frame live subscribers got fits
            seen_e, seen_f = max(at_e, seen_e), max(at_f, seen_f)
            event = here.event
            examine -= 1
            if wanted(event) and (
                entitlement is None or entitlement.covers(event.sport, event.competition)
            ):
                frame = here.merged if shared else b"id: %d-%d\n" % (seen_e, seen_f) + here.body
                frames.append(frame)
                size += len(frame)
                if size >= budget:
                    looked_at_all = False
                    break
            if examine <= 0:
                looked_at_all = False
                break
        if looked_at_all:  # the events it skips move it on too: up to the last one buffered
            last = max((b[-1] for b in self.buffers.values() if b), key=_order, default=None)
            if last is not None:
                seen_e, seen_f = max(seen_e, last.cursor[0]), max(seen_f, last.cursor[1])
        position[Log.EVENTS], position[Log.FORECASTS] = seen_e, seen_f
        return frames

    def _after(
        self, lg: Log, seq: int, narrow: tuple[str, frozenset[str]] | None = None
    ) -> Iterator[Entry]:
        """The buffered entries of ``lg`` after ``seq``; with ``narrow`` (a dimension and its
        values) only those filed under one of the values."""
        if narrow is None:
            runs = [self.buffers[lg]]
        else:
            keyed = self.keyed[lg]
            name, values = narrow
            runs = [keyed[(name, v)] for v in values if (name, v) in keyed]
        after = [itertools.islice(r, bisect.bisect_right(r, seq, key=_seq), None) for r in runs]
        if len(after) == 1:
            return after[0]
        return heapq.merge(*after, key=_seq)

    def join(self, sub: Subscriber, endpoint: Endpoint, position: Position | None) -> None:
        """Replay the buffered events after ``position`` to ``sub`` and add it to the live flow
        (None: from now). Synchronous: nothing is published in between."""
        if self.closed:
            sub.end(SHUTDOWN, self.shutdown_notice())
            return
        if position is not None:
            sub.push_all(self._replay(sub, endpoint, dict(position), _UNBOUNDED))
            if not covers(self.heads, position):
                sub.floor = {lg: position[lg] for lg in endpoint.logs}
        self.indexes[endpoint.name].add(sub, sub.filter)
        self.subscribers.add(sub)
        self._joined += 1
        if self.settings.flush_seconds > 0:
            sub.due = self._due_hook
        sub.beat = self._joined % len(self.beats)
        self.beats[sub.beat].add(sub)
        self.metrics.connected(endpoint.name)

    def recent_position(self, sub: Subscriber, endpoint: Endpoint, count: int) -> Position:
        """The position just before the ``count`` most recent buffered events ``sub`` would
        be sent (all of the buffer when it holds fewer): a new client joined from there sees
        them at once, then the live flow, with the ids of an exact resume."""
        position = {lg: self.heads[lg] for lg in endpoint.logs}
        if count <= 0:
            return position
        start = {lg: self.buffer_from[lg] for lg in endpoint.logs}
        entries = list(self._buffered_after(endpoint, start))
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

    def _buffered_after(self, endpoint: Endpoint, position: Position) -> Iterator[Entry]:
        """The buffered events after ``position``, in the order they came (lazily: consume
        before the next await)."""
        runs = [self._after(lg, position[lg]) for lg in endpoint.logs]
        if len(runs) == 1:
            return runs[0]
        return heapq.merge(*runs, key=_order)

    def leave(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.beats[sub.beat].discard(sub)
            self.indexes[sub.endpoint].remove(sub, sub.filter)
            self.metrics.disconnected(sub.endpoint, sub.reason)

    def head_id(self, endpoint: Endpoint) -> str:
        return render(self.heads, endpoint.logs)
