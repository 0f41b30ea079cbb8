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
