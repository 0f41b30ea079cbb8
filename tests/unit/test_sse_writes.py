"""Writes to stream connections without a task per frame (gateway.streams.writes, Subscriber)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.streams.endpoints import ENDPOINTS
from gateway.streams.filters import Filter
from gateway.streams.hub import JOIN_ENTRIES, PIECE_BYTES, Hub, HubSettings
from gateway.streams.subscriber import SLOW, Subscriber
from gateway.streams.writes import write_now
from readmodels.live import Log
from tests.unit.test_sse_fanout import Silent, odds


class Connection:
    """An ASGI send that, like uvicorn's, finishes at once unless its transport is paused."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.writable = asyncio.Event()
        self.writable.set()

    async def send(self, message: dict[str, Any]) -> None:
        if not self.writable.is_set():
            await self.writable.wait()
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m["body"] for m in self.messages)

    @property
    def ended(self) -> bool:
        return bool(self.messages) and not self.messages[-1]["more_body"]


def attached(hub: Hub, conn: Connection, limit: int = 1 << 20) -> Subscriber:
    ep = ENDPOINTS["odds"]
    sub = Subscriber(endpoint=ep.name, logs=ep.logs, flt=Filter(), entitlement=None, limit=limit)
    sub.attach(conn.send)
    hub.join(sub, ep, None)
    return sub


def ids(data: bytes) -> list[int]:
    return [int(line[4:]) for line in data.split(b"\n") if line.startswith(b"id: ")]


def hub(**settings: Any) -> Hub:
    return Hub({Log.EVENTS: Silent(), Log.FORECASTS: Silent()}, HubSettings(**settings))  # type: ignore[arg-type]


async def test_a_send_that_need_not_wait_is_done_in_the_callers_call_without_a_task() -> None:
    conn = Connection()
    tasks = len(asyncio.all_tasks())
    assert write_now(conn.send, {"type": "http.response.body", "body": b"x"}) is None
    assert conn.body == b"x"
    assert len(asyncio.all_tasks()) == tasks


async def test_a_send_that_must_wait_is_finished_by_a_task_once_the_transport_drains() -> None:
    conn = Connection()
    conn.writable.clear()
    writing = write_now(conn.send, {"type": "http.response.body", "body": b"x"})
    assert writing is not None
    await asyncio.sleep(0.01)
    assert conn.messages == []
    conn.writable.set()
    await asyncio.wait_for(writing, 1)
    assert conn.body == b"x"


async def test_idle_subscribers_get_frames_from_the_hub_with_no_task_woken_per_frame() -> None:
    h = hub(flush_seconds=0.01)
    conns = [Connection() for _ in range(50)]
    for conn in conns:
        attached(h, conn)
    tasks = len(asyncio.all_tasks())
    for seq in range(1, 4):  # a burst: one write per subscriber at the next flush
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert len(asyncio.all_tasks()) == tasks
    await asyncio.sleep(0.05)
    for conn in conns:
        assert len(conn.messages) == 1
        assert ids(conn.body) == [1, 2, 3]


async def test_without_a_flush_delay_each_frame_is_written_as_it_is_published() -> None:
    h = hub(flush_seconds=0)
    conn = Connection()
    attached(h, conn)
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    assert ids(conn.body) == [1]


async def test_a_client_that_stops_reading_is_cut_as_slow_then_its_response_ends() -> None:
    h = hub(flush_seconds=0)
    conn = Connection()
    sub = attached(h, conn, limit=500)
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    conn.writable.clear()  # the client stops reading: the next write waits in a task
    for seq in range(2, 60):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert sub.closing
    assert sub.reason == SLOW
    conn.writable.set()
    await asyncio.sleep(0.05)
    assert ids(conn.body) == [1, 2]  # what it had, then the write in flight; the rest dropped
    assert b"slow-consumer" in conn.messages[-2]["body"]
    assert b"id:" not in conn.messages[-2]["body"]
    assert conn.ended


async def test_a_long_resume_from_the_buffer_is_sent_in_pieces_then_joins_exactly() -> None:
    h = hub(buffer_events=5000, flush_seconds=0)
    big = b"{" + b'"x":' + b"1" * 400 + b"}"
    for seq in range(1, 3001):
        event = odds(seq, "a")
        h.publish(Log.EVENTS, seq, type(event)(**{**_fields(event), "data": big}))
    ep = ENDPOINTS["odds"]
    sub = Subscriber(endpoint=ep.name, logs=ep.logs, flt=Filter(), entitlement=None, limit=1 << 20)
    conn = Connection()
    sub.attach(conn.send)
    position = {Log.EVENTS: 100}
    assert h.must_catch_up(ep, position)
    pieces: list[bytes] = []

    async def send(chunk: bytes) -> None:
        pieces.append(chunk)
        if len(pieces) == 3:  # events keep coming while it catches up
            h.publish(Log.EVENTS, 3001, odds(3001, "a"))

    await h.catch_up(sub, ep, position, send)
    assert len(pieces) > 3
    assert all(len(p) < PIECE_BYTES + 1024 for p in pieces)
    assert h.heads[Log.EVENTS] - position[Log.EVENTS] <= JOIN_ENTRIES
    h.join(sub, ep, position)
    h.publish(Log.EVENTS, 3002, odds(3002, "a"))
    assert ids(b"".join(pieces) + conn.body) == list(range(101, 3003))


def _fields(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__slots__}


async def test_heartbeats_are_spread_over_the_period_each_subscriber_once_per_period() -> None:
    h = hub(heartbeat_seconds=2.0, flush_seconds=0)
    conns = [Connection() for _ in range(40)]
    for conn in conns:
        attached(h, conn)
    assert len(h.beats) == 4  # a slot per 0.5 s tick
    assert {len(slot) for slot in h.beats} == {10}


def test_a_resume_on_all_from_the_buffer_reuses_the_frames_live_clients_got() -> None:
    from tests.unit.test_sse_fanout import forecast, subscriber

    h = hub()
    along = subscriber(Filter(), endpoint="all")
    h.join(along, ENDPOINTS["all"], None)
    for seq in range(1, 5):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
        h.publish(Log.FORECASTS, seq, forecast(seq, "a", "m"))
    resumed = subscriber(Filter(), endpoint="all")
    h.join(resumed, ENDPOINTS["all"], {Log.EVENTS: 1, Log.FORECASTS: 1})
    assert resumed.pending == along.pending[2:]
    assert all(a is b for a, b in zip(resumed.pending, along.pending[2:], strict=True))
    ahead = subscriber(Filter(), endpoint="all")  # further in forecasts than those events
    h.join(ahead, ENDPOINTS["all"], {Log.EVENTS: 2, Log.FORECASTS: 4})
    assert [f.split(b"\n", 1)[0] for f in ahead.pending] == [b"id: 3-4", b"id: 4-4"]


async def test_a_narrow_resume_looks_at_the_buffer_a_slice_at_a_time_and_misses_nothing() -> None:
    h = hub(buffer_events=20_000, flush_seconds=0)
    for seq in range(1, 10_001):
        h.publish(Log.EVENTS, seq, odds(seq, "b" if seq % 100 == 0 else "a"))
    ep = ENDPOINTS["odds"]
    flt = Filter(fixtures=frozenset({"b"}))
    sub = Subscriber(endpoint=ep.name, logs=ep.logs, flt=flt, entitlement=None, limit=1 << 20)
    conn = Connection()
    sub.attach(conn.send)
    pieces: list[bytes] = []

    async def send(chunk: bytes) -> None:
        pieces.append(chunk)

    position = {Log.EVENTS: 50}
    await h.catch_up(sub, ep, position, send)
    h.join(sub, ep, position)
    assert ids(b"".join(pieces) + conn.body) == list(range(100, 10_001, 100))


# -- a connection the server handed over: the subscriber is its transport's protocol ---------


class Transport(asyncio.Transport):
    """Takes writes until more than ``room`` bytes wait for the client, then pauses its protocol
    (as asyncio's and uvloop's transports do above their high-water mark)."""

    def __init__(self, protocol: Subscriber, room: int = 1 << 20) -> None:
        super().__init__()
        self.protocol = protocol
        self.room = room
        self.waiting = bytearray()
        self.read = bytearray()
        self.closed = self.aborted = self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed
        self.waiting += data
        if len(self.waiting) > self.room and not self.paused:
            self.paused = True
            self.protocol.pause_writing()

    def client_reads(self) -> None:
        self.read += self.waiting
        self.waiting.clear()
        if self.paused:
            self.paused = False
            self.protocol.resume_writing()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def body(self) -> bytes:
        """The chunked body the client read, decoded; ends with b"<end>" after the last chunk."""
        out, data = bytearray(), bytes(self.read)
        while data:
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                return bytes(out) + b"<end>"
            out += data[:size]
            data = data[size + 2 :]
        return bytes(out)


def handed_over(h: Hub, room: int = 1 << 20, limit: int = 1 << 20) -> tuple[Subscriber, Transport]:
    ep = ENDPOINTS["odds"]
    sub = Subscriber(endpoint=ep.name, logs=ep.logs, flt=Filter(), entitlement=None, limit=limit)
    sub.hub = h
    transport = Transport(sub, room)
    sub.attach_transport(transport)
    h.join(sub, ep, None)
    sub.serving = False  # the request's coroutine returned: the connection owns the stream
    return sub, transport


async def test_a_handed_over_subscriber_writes_chunks_to_its_transport_without_a_task() -> None:
    h = hub(flush_seconds=0.01)
    pairs = [handed_over(h) for _ in range(20)]
    tasks = len(asyncio.all_tasks())
    for seq in range(1, 4):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert len(asyncio.all_tasks()) == tasks
    await asyncio.sleep(0.05)
    for _, transport in pairs:
        transport.client_reads()
        assert transport.read.count(b"\r\n") == 2  # one chunk: size line and its end
        assert ids(transport.body()) == [1, 2, 3]


async def test_a_paused_transport_holds_frames_until_it_drains_then_sends_them_in_one_write() -> (
    None
):
    h = hub(flush_seconds=0)
    sub, transport = handed_over(h, room=10)
    h.publish(Log.EVENTS, 1, odds(1, "a"))  # past the room: the transport pauses
    assert sub.writing is not None
    assert sub.sending_since > 0
    for seq in range(2, 6):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert len(sub.pending) == 4
    transport.client_reads()
    await asyncio.sleep(0.01)
    assert sub.pending == []  # in one write (which paused the transport again)
    transport.client_reads()
    assert ids(transport.body()) == [1, 2, 3, 4, 5]
    assert transport.read.count(b"\r\n") == 4  # two chunks


async def test_a_handed_over_client_too_slow_gets_the_notice_then_its_connection_closes() -> None:
    h = hub(flush_seconds=0)
    released: list[bool] = []
    sub, transport = handed_over(h, room=10, limit=500)
    sub.release = lambda: released.append(True)
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    for seq in range(2, 60):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert sub.closing
    assert sub.reason == SLOW
    for _ in range(2):  # the notice, then the last chunk (each write fills the room)
        transport.client_reads()
        await asyncio.sleep(0.01)
    transport.client_reads()
    body = transport.body()
    assert ids(body) == [1]
    assert body.endswith(b"<end>")
    assert b"slow-consumer" in body
    assert body.count(b"id:") == 1
    assert transport.closed
    assert not transport.aborted
    await asyncio.sleep(0)
    assert released == [True]  # the caller's connection given back once
    assert sub not in h.subscribers
    assert h.metrics.ended[SLOW] == 1
    assert h.metrics.open["odds"] == 0


async def test_a_handed_over_client_leaving_finishes_its_stream_once() -> None:
    h = hub(flush_seconds=0)
    released: list[bool] = []
    sub, transport = handed_over(h)
    sub.release = lambda: released.append(True)
    sub.connection_lost(None)
    sub.connection_lost(None)
    assert released == [True]
    assert sub not in h.subscribers
    assert h.metrics.ended["client-gone"] == 1
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    assert transport.waiting == b""


async def test_a_handed_over_write_stuck_past_the_timeout_is_aborted() -> None:
    h = hub(flush_seconds=0, send_timeout_seconds=5)
    sub, transport = handed_over(h, room=10)
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    h._cut_stuck(sub.sending_since + 6)
    assert transport.aborted
    await asyncio.sleep(0)
    assert sub.lost
    assert sub not in h.subscribers


async def test_nothing_is_written_to_a_connection_closing_before_connection_lost_arrives() -> None:
    """uvloop closes the handle when the client leaves and delivers connection_lost a turn
    later; a write in between raises. The stream stops writing and waits for it."""
    h = hub(flush_seconds=0)
    sub, transport = handed_over(h)
    transport.closed = True  # write() would fail its assert, as uvloop's raises
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    assert sub.closing
    assert not transport.aborted
    assert sub in h.subscribers  # until connection_lost finishes it
    sub.connection_lost(None)
    assert sub not in h.subscribers
