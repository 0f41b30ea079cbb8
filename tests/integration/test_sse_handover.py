"""Streams on connections uvicorn hands over (infra.http_handover, gateway.streams.handover).

Served by real uvicorn on loopback with the gateway's protocol, read by raw sockets; the hub is
fed through ``publish`` (what comes from NATS is the other tests' subject).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.streams.handover import offered
from gateway.streams.hub import Hub, HubSettings
from gateway.streams.subscriber import SHUTDOWN, SLOW
from infra.http_handover import HandedOver
from readmodels.live import Log, StreamEvent
from tests.sse_support import hub_lifespan, served_by_uvicorn
from tests.unit.test_sse_fanout import Silent, odds


class Quiet(Silent):
    """A log nothing is appended to, followed for good (a started hub's pump waits on it)."""

    async def follow(self, after: int) -> AsyncIterator[tuple[int, StreamEvent | None]]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # pragma: no cover


@dataclass
class Served:
    port: int
    hub: Hub
    server: uvicorn.Server


@contextlib.asynccontextmanager
async def serve(settings: HubSettings, *, app: object = None) -> AsyncIterator[Served]:
    hub = Hub({Log.EVENTS: Quiet(), Log.FORECASTS: Quiet()}, settings)  # type: ignore[dict-item]
    app = app or create_app(version_probes=[], lifespan=hub_lifespan(hub))
    async with served_by_uvicorn(app) as server:
        yield Served(server.config.port, hub, server)


@dataclass
class Client:
    """A raw HTTP/1.1 client of one stream: the head, then the chunked body decoded."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: bytes = b""
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    """The last chunk came."""

    async def read_head(self) -> None:
        self.head = await self.reader.readuntil(b"\r\n\r\n")

    async def read_chunk(self) -> bool:
        """One chunk into ``body``; False at the last one."""
        size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
        data = await self.reader.readexactly(size + 2)
        if size == 0:
            self.ended = True
            return False
        self.body += data[:-2]
        return True

    async def read_until(self, done: bytes) -> None:
        while done not in self.body and await self.read_chunk():
            pass

    def ids(self) -> list[int]:
        return [int(line[4:]) for line in bytes(self.body).split(b"\n") if line.startswith(b"id: ")]

    def close(self) -> None:
        self.writer.close()


async def connect(port: int, path: str = "/v1/streams/odds", *, rcvbuf: int = 0) -> Client:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n".encode())
    client = Client(reader, writer)
    async with asyncio.timeout(30):
        await client.read_head()
    return client


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (polls the server's state, bounded)
            await asyncio.sleep(0.01)


async def test_a_stream_takes_its_connection_and_leaves_nothing_of_the_request_behind() -> None:
    async with serve(HubSettings(flush_seconds=0)) as served:
        hub, state = served.hub, served.server.server_state
        clients = [await connect(served.port) for _ in range(5)]
        await until(lambda: hub.metrics.open["odds"] == 5)
        await until(lambda: not state.tasks)  # the requests' tasks ended
        assert len(state.connections) == 5
        assert all(isinstance(c, HandedOver) for c in state.connections)
        assert all(b"connection: close" in c.head for c in clients)
        for seq in range(1, 4):
            hub.publish(Log.EVENTS, seq, odds(seq, "a"))
        for client in clients:
            async with asyncio.timeout(30):
                await client.read_until(b"id: 3\n")
            assert client.ids() == [1, 2, 3]
        clients[0].close()
        await until(lambda: hub.metrics.open["odds"] == 4)
        await until(lambda: len(state.connections) == 4)
        hub.publish(Log.EVENTS, 4, odds(4, "a"))
        for client in clients[1:]:
            async with asyncio.timeout(30):
                await client.read_until(b"id: 4\n")
            client.close()
        await until(lambda: not state.connections)
        assert hub.metrics.ended["client-gone"] == 5


async def test_a_handed_over_client_that_stops_reading_is_cut_as_slow_with_a_reason() -> None:
    settings = HubSettings(flush_seconds=0, client_buffer_bytes=256 * 1024, buffer_events=8)
    async with serve(settings) as served:
        hub = served.hub
        client = await connect(served.port, rcvbuf=4096)  # and it reads no more
        await until(lambda: hub.metrics.open["odds"] == 1)
        (sub,) = hub.subscribers
        big = b'{"pad":"' + b"x" * 32_000 + b'"}'
        seq = 0
        async with asyncio.timeout(30):
            while not sub.closing:  # the kernel's buffers fill, then the transport's, then ours
                seq += 1
                event = odds(seq, "a")
                hub.publish(Log.EVENTS, seq, type(event)(**{**_fields(event), "data": big}))
                await asyncio.sleep(0)
        assert sub.reason == SLOW
        async with asyncio.timeout(20):
            while await client.read_chunk():
                pass
        body = bytes(client.body)
        got = client.ids()
        assert got == list(range(1, len(got) + 1))  # what it got: in order, nothing skipped
        assert len(got) < seq
        last = body.rsplit(b"\n\n", 2)[-2]
        assert b"event: error" in last
        assert b"slow-consumer" in last
        assert b"id:" not in last  # the client's Last-Event-ID stays its last real event
        assert await client.reader.read() == b""  # then the server closes the connection
        await until(lambda: hub.metrics.ended[SLOW] == 1 and not hub.subscribers)


async def test_the_servers_graceful_shutdown_ends_handed_over_streams_with_a_retry_hint() -> None:
    async with serve(HubSettings(flush_seconds=0)) as served:
        hub = served.hub
        clients = [await connect(served.port) for _ in range(3)]
        await until(lambda: hub.metrics.open["odds"] == 3)
        served.server.should_exit = True  # as on SIGTERM; the hub is not told otherwise
        for client in clients:
            async with asyncio.timeout(30):
                while await client.read_chunk():
                    pass
            frame = bytes(client.body).strip().split(b"\n")
            assert frame[0].startswith(b"retry: ")
            assert 2000 <= int(frame[0][7:]) <= 4000
            assert json.loads(frame[2][6:])["code"] == SHUTDOWN
            assert client.ended
        await until(lambda: hub.metrics.ended[SHUTDOWN] == 3)


async def test_the_server_hands_over_only_a_started_chunked_response() -> None:
    taken: list[object] = []

    class Nobody(asyncio.Protocol):
        def shutdown(self) -> None: ...

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        take = offered(scope)
        assert take is not None
        taken.append(take(Nobody()))  # before the head: refused
        fixed = scope["path"] == "/fixed"
        headers = [(b"content-length", b"2")] if fixed else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        transport = take(Nobody())
        taken.append(transport)
        if transport is None:  # not chunked: uvicorn goes on with it
            await send({"type": "http.response.body", "body": b"ok"})
            return
        transport.write(b"2\r\nok\r\n0\r\n\r\n")
        transport.close()

    async with serve(HubSettings(), app=app) as served:
        for path in ("/fixed", "/chunked"):
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            async with asyncio.timeout(30):
                head = await reader.readuntil(b"\r\n\r\n")
                rest = await reader.read()  # both end with the connection closed
            assert head.startswith(b"HTTP/1.1 200")
            assert b"ok" in rest
            writer.close()
    assert taken[:3] == [None, None, None]  # /fixed: before its head, and not chunked; /chunked:
    assert taken[3] is not None  # before its head, then taken


def _fields(event: object) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__slots__}  # type: ignore[attr-defined]
