"""SSE fan-out under a matchday load: the gateway's hub against a naive sse-starlette endpoint.

Everything runs on this machine: a real nats-server, gateway processes (uvicorn, uvloop,
httptools) and several load-generator processes (raw asyncio sockets, each bound to its own
loopback address 127.0.0.x, since ``ulimit -n`` is 20,000 per process). Events are appended to
two JetStream streams shaped like the event store's (fixture, odds book and forecast subjects
with eventsourcing's headers and JSON), so the gateway translates them as in production.

Scenarios (BENCH_SSE_SCENARIOS, comma-separated, default all but ``wide``):
- ``idle``: N clients connected, no events: server memory per connection.
- ``matchday``: N clients (90% one fixture of 100, Zipf; 9% one competition of 10; 1%
  ``/all``) while events are appended at each rate of BENCH_SSE_RATES (first 100/s: ~28,000
  frames/s), with bursts (a goal comes with three forecasts at once). Per rate: offered and
  delivered frames/s (frames per second of appends), append-to-client latency p50/p99/max, gaps
  and duplicates, server CPU and its garbage collections. The same
  clients and rates are run against the naive endpoint (one asyncio.Queue per client, each
  frame encoded per client by sse-starlette's EventSourceResponse) in the same run.
- ``churn``: BENCH_SSE_RECONNECTS reconnects with random Last-Event-IDs while a backlog is
  replayed and events keep coming: every session is checked for gaps and duplicates.
- ``wide``: BENCH_SSE_WIDE connections held across BENCH_SSE_GATEWAYS processes sharing one
  port (SO_REUSEPORT), each receiving its heartbeats and its events.

Latency is from just before the append is sent to JetStream to the client's read of the frame
(wall clocks of one machine).

Scheduling on a shared box: BENCH_SSE_NICE (e.g. -10, as root) is given to the gateways, the
nats-server and this process, and written to the session's autogroup (with the kernel's
autogroup scheduling on, as here, a nice value alone ranks processes only within their session;
docs/adr/0030); BENCH_SSE_CLIENT_NICE to the load generators. Each step reports how long the
gateway waited for a CPU. BENCH_SSE_PROFILE=file (with BENCH_SSE_PROFILE_SECONDS) writes a
cProfile of the gateway; BENCH_SSE_COUNT=1 checks frames written against frames read.
Garbage collection: each phase reports the gateway's collections (/bench/gc);
BENCH_SSE_GC_FREEZE=0 skips the gateway's ``gc.freeze()`` after start-up (on by default, as in
production), BENCH_SSE_GC_THRESHOLD=a,b,c sets ``gc.set_threshold`` in the gateways.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import cProfile
import gc
import multiprocessing as mp
import os
import random
import re
import socket
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import orjson
import psutil

EVENTS, FORECASTS = "BENCHEV", "BENCHFC"
FIXTURES, COMPETITIONS = 100, 10
ID_RX = re.compile(rb"id: (\d+)-(\d+)\nevent: ([a-z-]+)\n")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def fixture_uuid(i: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"fixture-{i}")


def book_uuid(i: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"book-{i}")


def competition_of(i: int) -> str:
    return f"league-{i % COMPETITIONS}"


def wrapped(kind: str, data: object) -> dict[str, object]:
    return {"_type_": kind, "_data_": data}


def now_iso() -> dict[str, object]:
    return wrapped("datetime_iso", time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))


# -- the gateway processes ------------------------------------------------------------------


def reuse_port_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(8192)
    sock.setblocking(False)
    return sock


def naive_app(nats_url: str) -> Any:
    """The peer: a queue per client, every frame encoded per client by sse-starlette."""
    import nats
    from fastapi import FastAPI, Query
    from sse_starlette import EventSourceResponse, ServerSentEvent

    from gateway.streams.filters import Filter
    from infra.streams.source import event_logs
    from readmodels.live import Log

    clients: list[tuple[Filter, asyncio.Queue[tuple[str, str, str]]]] = []
    heads = {Log.EVENTS: 0, Log.FORECASTS: 0}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nc = await nats.connect(nats_url)
        logs = dict(
            zip(
                (Log.EVENTS, Log.FORECASTS),
                event_logs(nc, events_stream=EVENTS, forecasts_stream=FORECASTS),
                strict=True,
            )
        )

        async def pump(lg: Log) -> None:
            _, heads[lg] = await logs[lg].bounds()
            async for seq, event in logs[lg].follow(heads[lg]):
                heads[lg] = seq
                if event is None:
                    continue
                event_id = f"{heads[Log.EVENTS]}-{heads[Log.FORECASTS]}"
                data = event.data.decode()
                for flt, queue in clients:
                    if flt.accepts(event):
                        queue.put_nowait((event_id, event.type, data))

        tasks = [asyncio.create_task(pump(lg)) for lg in logs]
        yield
        for t in tasks:
            t.cancel()
        await nc.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/streams/all")
    async def stream(
        competition: list[str] | None = Query(None),  # noqa: B008
        fixture: list[str] | None = Query(None),  # noqa: B008
    ) -> EventSourceResponse:
        flt = Filter(competitions=frozenset(competition or ()), fixtures=frozenset(fixture or ()))
        queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        entry = (flt, queue)
        clients.append(entry)

        async def frames() -> AsyncIterator[ServerSentEvent]:
            try:
                while True:
                    event_id, kind, data = await queue.get()
                    yield ServerSentEvent(data=data, event=kind, id=event_id, sep="\n")
            finally:
                clients.remove(entry)

        return EventSourceResponse(frames(), ping=15, sep="\n")

    return app


def fanout_app(nats_url: str, heartbeat: float) -> Any:
    import nats
    from fastapi import FastAPI

    from gateway.app import create_app
    from gateway.streams.hub import Hub, HubSettings
    from infra.streams.source import event_logs
    from readmodels.live import Log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await nats.connect(nats_url)
        events, forecasts = event_logs(nc, events_stream=EVENTS, forecasts_stream=FORECASTS)
        hub = Hub(
            {Log.EVENTS: events, Log.FORECASTS: forecasts}, HubSettings(heartbeat_seconds=heartbeat)
        )
        if env_int("BENCH_SSE_COUNT", 0):
            # When each event reached the hub (code as the clients note it), for /bench/hub.
            publish = hub.publish

            def noted(lg: Log, seq: int, event: Any) -> None:
                app.state.bench_hub_at[seq * 2 + (lg is Log.FORECASTS)] = time.time()
                publish(lg, seq, event)

            app.state.bench_hub_at = {}
            hub.publish = noted  # type: ignore[method-assign]
        await hub.start()
        profiled_for(float(os.environ.get("BENCH_SSE_PROFILE_SECONDS", "60")))
        app.state.stream_hub = hub
        if env_int("BENCH_SSE_GC_FREEZE", 1):  # as the gateway does (infra.bootstrap)
            from infra.heap import freeze_after_startup

            print(f"fanout: {freeze_after_startup()} objects frozen", flush=True)
        yield
        await hub.stop()
        await nc.close()

    return create_app(version_probes=[], lifespan=lifespan)


async def json_answer(send: Any, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GcPauses:
    """Each garbage collection's pause in this process (``gc.callbacks``), for /bench/gc."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float, float]] = []
        """(generation, wall seconds, CPU seconds)"""
        self._started = self._cpu = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started, self._cpu = time.perf_counter(), time.thread_time()
        else:
            wall, used = time.perf_counter() - self._started, time.thread_time() - self._cpu
            self.pauses.append((info["generation"], wall, used))

    def take(self) -> list[tuple[int, float, float]]:
        taken, self.pauses = self.pauses, []
        return taken


def with_gc_report(app: Any, pauses: GcPauses) -> Any:
    """``/bench/gc``: the collections since the last ask (generation, seconds)."""

    async def reporting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/gc":
            tracked = [len(gc.get_objects(generation=g)) for g in range(3)]
            kinds = Counter(type(o).__name__ for o in gc.get_objects(generation=2))
            body = orjson.dumps(
                {"pauses": pauses.take(), "tracked": tracked, "kinds": kinds.most_common(12)}
            )
            await json_answer(send, body)
            return
        await app(scope, receive, send)

    return reporting


def gc_pauses(port: int, kind: str, tag: str) -> None:
    """Report the gateway's collections since the last report (count per generation, longest,
    total)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/gc", timeout=30) as r:
        report = orjson.loads(r.read())
    pauses = report["pauses"]
    counts = Counter(g for g, _, _ in pauses)
    print(f"{kind}_{tag}: objects the collector tracks by generation {report['tracked']}")
    print(f"{kind}_{tag}: commonest in the oldest generation {report['kinds']}")
    say(f"{kind}_{tag}_gc_collections_gen2", counts[2], "")
    say(f"{kind}_{tag}_gc_pause_max", max((p for _, p, _ in pauses), default=0.0) * 1000, "ms")
    say(f"{kind}_{tag}_gc_pause_total", sum(p for _, p, _ in pauses) * 1000, "ms")
    # the collector's own CPU time (the pauses above include waiting for a CPU on a busy box)
    say(f"{kind}_{tag}_gc_cpu_max", max((c for *_, c in pauses), default=0.0) * 1000, "ms")
    say(f"{kind}_{tag}_gc_cpu_total", sum(c for *_, c in pauses) * 1000, "ms")


def counting(app: Any) -> Any:
    """BENCH_SSE_COUNT=1: the bytes and frames each stream connection handed to the server (by
    client address), served at ``/bench/counts``, to tell frames never written from frames
    written but not yet read by the load generator."""
    written: dict[str, list[int]] = {}

    async def counted_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/streams"):
            if scope["type"] == "http" and scope["path"].startswith("/bench/"):
                hub_at = getattr(app.state, "bench_hub_at", {})
                if scope["path"] == "/bench/hub":
                    body = orjson.dumps(list(hub_at.items()))
                else:
                    body = orjson.dumps(written)
                await json_answer(send, body)
                return
            await app(scope, receive, send)
            return
        row = written[f"{scope['client'][0]}:{scope['client'][1]}"] = [0, 0]
        scope.pop("extensions", None)  # counted through ASGI: no hand-over

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                row[0] += len(body)
                row[1] += body.count(b"id: ")
            await send(message)

        await app(scope, receive, counted)

    return counted_app


def gateway_main(kind: str, port: int, nats_url: str, heartbeat: float) -> None:
    import uvicorn

    # BENCH_SSE_NICE (e.g. -10, as root): the gateway under test (with the nats-server and the
    # publisher, see main) is scheduled ahead of the other work on a shared box; both
    # endpoints get the same treatment. The main process set its own nice: spawned children
    # inherit it, so this is relative to that.
    os.nice(env_int("BENCH_SSE_NICE", 0) - os.nice(0))

    app = naive_app(nats_url) if kind == "naive" else fanout_app(nats_url, heartbeat)
    if env_int("BENCH_SSE_COUNT", 0):
        app = counting(app)
    app = with_gc_report(app, GcPauses())
    if threshold := os.environ.get("BENCH_SSE_GC_THRESHOLD"):  # e.g. 50000,20,20 (diagnosis)
        gc.set_threshold(*(int(t) for t in threshold.split(",")))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        # ours: the protocol the gateway runs (streams take their connections, ADR 0036); the
        # peer: plain httptools
        http="httptools" if kind == "naive" else "infra.http_handover:HandoverHttpToolsProtocol",
        log_level="warning",
        access_log=False,
        backlog=8192,
        timeout_keep_alive=60,
    )
    server = uvicorn.Server(config)
    if PROFILE and kind != "naive" and not Path(PROFILE).exists():
        Path(PROFILE).touch()
        PROFILER.enable()  # dumped by the lifespan (profiled_for)
    server.run(sockets=[reuse_port_socket(port)])


# BENCH_SSE_PROFILE=file: cProfile of the (first) gateway process from its start until
# BENCH_SSE_PROFILE_SECONDS after its hub started (diagnosis only; it slows the gateway).
PROFILE = os.environ.get("BENCH_SSE_PROFILE", "")
PROFILER = cProfile.Profile()


def profiled_for(seconds: float) -> None:
    def dump() -> None:
        PROFILER.disable()
        PROFILER.dump_stats(PROFILE)

    if PROFILE:
        asyncio.get_running_loop().call_later(seconds, dump)


# -- the load generators --------------------------------------------------------------------


class Client(asyncio.Protocol):
    __slots__ = (
        "beats",
        "buf",
        "closed",
        "codes",
        "errors",
        "last",
        "name",
        "out",
        "path",
        "received",
        "request",
        "subscribed",
        "times",
    )

    def __init__(
        self, path: str, request: bytes, codes: array.array[int], times: array.array[float]
    ) -> None:
        self.path = path
        """What this client subscribed to (clients connect concurrently: the order in which
        they finish connecting is not the order of the paths)."""
        self.request = request
        self.buf = b""
        self.out = array.array("q")
        self.codes = codes
        self.times = times
        self.beats = 0
        self.errors = 0
        self.closed = False
        self.last = b""
        self.name = ""
        self.received = 0
        self.subscribed = False
        """The response's head has arrived: the gateway has joined this client to the live
        flow (it does so before its first write), so every later event is owed to it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        host, port = transport.get_extra_info("sockname")[:2]
        self.name = f"{host}:{port}"
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.received += len(data)
        buf = self.buf + data
        if not self.subscribed and b"\r\n\r\n" in buf:
            self.subscribed = True
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.buf = buf
            return
        block = buf[:cut]
        self.buf = buf[cut + 2 :]
        found = [m for m in ID_RX.findall(block) if m[2] != b"reset"]  # a reset is no event
        for e, f, kind in found:
            code = int(f) * 2 + 1 if kind == b"forecast" else int(e) * 2
            self.out.append(code)
            self.codes.append(code)
            self.times.append(now)
        if found:
            self.last = found[-1][0] + b"-" + found[-1][1]
        if b": heartbeat" in block:
            self.beats += block.count(b": heartbeat")
        if b"event: error" in block or b"event: reset" in block:
            self.errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


def request_for(path: str, last_event_id: str | None = None) -> bytes:
    extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n{extra}\r\n".encode()
    )


def clients_main(conn: Connection, port: int, source_ip: str, paths: list[str]) -> None:
    import uvloop

    # the load generators too, on a shared box (relative to the main process's, inherited)
    os.nice(env_int("BENCH_SSE_CLIENT_NICE", 0) - os.nice(0))

    uvloop.run(_clients(conn, port, source_ip, paths))


async def _clients(conn: Connection, port: int, source_ip: str, paths: list[str]) -> None:
    loop = asyncio.get_running_loop()
    codes: array.array[int] = array.array("q")
    times: array.array[float] = array.array("d")
    clients: list[tuple[asyncio.BaseTransport, Client]] = []
    gate = asyncio.Semaphore(200)

    async def connect(path: str) -> None:
        async with gate:
            for attempt in range(5):
                try:
                    transport, client = await loop.create_connection(
                        lambda: Client(path, request_for(path), codes, times),
                        "127.0.0.1",
                        port,
                        local_addr=(source_ip, 0),
                    )
                    clients.append((transport, client))
                    return
                except OSError:
                    await asyncio.sleep(0.2 * (attempt + 1))

    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "connect":
            await asyncio.gather(*(connect(p) for p in paths))
            # A TCP connection is not yet a subscription: the gateway may still be working
            # through its accept backlog. Events appended before a client is subscribed are not
            # owed to it, so wait (bounded) until every client has its response head.
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not all(  # noqa: ASYNC110 (bounded poll)
                c.subscribed for _, c in clients
            ):
                await asyncio.sleep(0.2)
            conn.send(sum(c.subscribed for _, c in clients))
        elif command == "report":
            conn.send({"codes": codes.tobytes(), "times": times.tobytes()})
            del codes[:], times[:]
        elif command == "final":
            conn.send(
                {
                    "per_client": [c.out.tobytes() for _, c in clients],
                    "paths": [c.path for _, c in clients],
                    "beats": [c.beats for _, c in clients],
                    "errors": sum(c.errors for _, c in clients),
                    "closed": sum(c.closed for _, c in clients),
                    "names": [c.name for _, c in clients],
                    "received": [c.received for _, c in clients],
                }
            )
            for _, c in clients:
                del c.out[:]
        elif command == "close":
            for t, _ in clients:
                t.close()
            conn.send("closed")
            return


def churn_main(conn: Connection, port: int, source_ip: str, sessions: int, seed: int) -> None:
    import uvloop

    uvloop.run(_churn(conn, port, source_ip, sessions, seed))


async def _churn(conn: Connection, port: int, source_ip: str, sessions: int, seed: int) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    head = [int(x) for x in conn.recv().split("-")]
    results: list[tuple[str, str, bytes, bytes, int, float]] = []
    gate = asyncio.Semaphore(50)
    life = float(os.environ.get("BENCH_SSE_SESSION_SCALE", "1"))  # sessions last 0.2-1.5 s x

    async def session() -> None:
        async with gate:
            cursor = f"{rng.randint(0, head[0])}-{rng.randint(0, head[1])}"
            comp = rng.randrange(COMPETITIONS + 3)
            path = "/v1/streams/all" + (
                f"?competition={competition_of(comp)}" if comp < COMPETITIONS else ""
            )
            codes: array.array[int] = array.array("q")
            times: array.array[float] = array.array("d")
            client = Client(path, request_for(path, cursor), codes, times)
            started = time.time()
            try:
                transport, _ = await loop.create_connection(
                    lambda: client, "127.0.0.1", port, local_addr=(source_ip, 0)
                )
            except OSError:
                results.append((path, cursor, b"", b"", -1, -1.0))
                return
            await asyncio.sleep(rng.uniform(0.2, 1.5) * life)
            transport.close()
            if client.last:
                e, f = (int(x) for x in client.last.split(b"-"))
                head[0], head[1] = max(head[0], e), max(head[1], f)
            first = times[0] - started if times else -1.0  # connect to the first frame
            results.append((path, cursor, client.out.tobytes(), client.last, client.errors, first))

    await asyncio.gather(*(session() for _ in range(sessions)))
    conn.send(results)


# -- the publisher --------------------------------------------------------------------------


@dataclass
class Published:
    log: int  # 0 events, 1 forecasts
    seq: int
    fixture: int
    sent: float
    acked: float = 0.0
    """When JetStream acknowledged the append (the event is stored and can be delivered)."""


class Publisher:
    def __init__(self, js: Any) -> None:
        self.js = js
        self.events: list[Published] = []
        self.pending: list[tuple[asyncio.Task[Any], int, int, float]] = []
        self.fixture_rr = 0

    async def setup(self) -> None:
        from nats.js.api import StreamConfig

        for stream in (EVENTS, FORECASTS):
            await self.js.add_stream(
                StreamConfig(name=stream, subjects=[f"es.{stream}.>"], allow_direct=True)
            )
        for i in range(FIXTURES):
            await self._append(
                EVENTS,
                f"u{fixture_uuid(i).hex}",
                "domain.fixture:Fixture.Scheduled",
                {
                    "timestamp": now_iso(),
                    "sport": "football",
                    "competition": competition_of(i),
                    "season": "2026",
                    "home": f"Home {i}",
                    "away": f"Away {i}",
                    "kickoff": now_iso(),
                    "venue": None,
                },
            )
            await self._append(
                EVENTS,
                f"u{book_uuid(i).hex}",
                "domain.odds_book:OddsBook.Opened",
                {
                    "timestamp": now_iso(),
                    "fixture_id": wrapped("uuid_hex", fixture_uuid(i).hex),
                    "source": "book",
                    "market": "1x2",
                },
            )

    async def _append(self, stream: str, token: str, topic: str, state: dict[str, object]) -> Any:
        return await self.js.publish(
            f"es.{stream}.evt.{token}",
            orjson.dumps(state),
            headers={"Es-Topic": topic, "Es-Version": "1"},
        )

    def _send(
        self, log: int, fixture: int, token: str, topic: str, state: dict[str, object]
    ) -> None:
        stream = FORECASTS if log else EVENTS
        sent = time.time()
        task = asyncio.ensure_future(self._timed(stream, token, topic, state))
        self.pending.append((task, log, fixture, sent))

    async def _timed(
        self, stream: str, token: str, topic: str, state: dict[str, object]
    ) -> tuple[Any, float]:
        ack = await self._append(stream, token, topic, state)
        return ack, time.time()

    def moment(self, rng: random.Random) -> int:
        """One moment of play on the next fixture: an odds update, or a goal and three
        forecasts at once; returns how many events."""
        i = self.fixture_rr = (self.fixture_rr + 1) % FIXTURES
        stamp = now_iso()
        if rng.random() < 0.1:
            self._send(
                0,
                i,
                f"u{fixture_uuid(i).hex}",
                "domain.fixture:Fixture.GoalScored",
                {
                    "timestamp": stamp,
                    "side": "home",
                    "minute": 10,
                    "stoppage": 0,
                    "player": None,
                    "own_goal": False,
                    "penalty": False,
                    "score": wrapped("score", [1, 0]),
                },
            )
            for model in ("m1", "m2", "m3"):
                self._send(
                    1,
                    i,
                    f"u{uuid.uuid5(fixture_uuid(i), 'forecasts').hex}",
                    "domain.forecast:FixtureForecasts.ForecastIssued",
                    {
                        "timestamp": stamp,
                        "fixture_id": wrapped("uuid_hex", fixture_uuid(i).hex),
                        "kickoff": stamp,
                        "trigger": "goal",
                        "model_id": model,
                        "artifact_hash": "h",
                        "market": "1x2",
                        "outcomes": ["home", "draw", "away"],
                        "probabilities": [0.6, 0.25, 0.15],
                        "market_probabilities": [0.55, 0.27, 0.18],
                        "edge": [0.05, -0.02, -0.03],
                        "features": {},
                        "as_of_position": 1,
                        "input_notification_ids": [1],
                    },
                )
            return 4
        self._send(
            0,
            i,
            f"u{book_uuid(i).hex}",
            "domain.odds_book:OddsBook.OddsQuoted",
            {
                "timestamp": stamp,
                "stage": None,
                "quoted_at": stamp,
                "price_format": "decimal",
                "raw_prices": ["1.80", "3.60", "4.50"],
                "decimal_prices": [1.8, 3.6, 4.5],
                "overround": 1.0,
                "margin_method": "proportional",
                "probabilities": [0.5, 0.28, 0.22],
            },
        )
        return 1

    async def run(self, rate: float, seconds: float, seed: int = 1) -> int:
        rng = random.Random(seed)
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = rate * elapsed
            while sent < due:
                sent += self.moment(rng)
            await asyncio.sleep(0.005)
        await self.settle()
        return sent

    async def settle(self) -> None:
        for task, log, fixture, sent in self.pending:
            ack, acked = await task
            self.events.append(Published(log, ack.seq, fixture, sent, acked))
        self.pending.clear()


# -- measuring ------------------------------------------------------------------------------


def subscriptions(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    fixture_weights = [1 / (r + 1) for r in range(FIXTURES)]
    competition_weights = [1 / (r + 1) for r in range(COMPETITIONS)]
    paths = []
    for k in range(n):
        roll = k % 100
        if roll < 90:
            i = rng.choices(range(FIXTURES), fixture_weights)[0]
            paths.append(f"/v1/streams/all?fixture={fixture_uuid(i)}")
        elif roll < 99:
            c = rng.choices(range(COMPETITIONS), competition_weights)[0]
            paths.append(f"/v1/streams/all?competition={competition_of(c)}")
        else:
            paths.append("/v1/streams/all")
    return paths


def matches(path: str, fixture: int) -> bool:
    if "fixture=" in path:
        return path.endswith(str(fixture_uuid(fixture)))
    if "competition=" in path:
        return path.endswith(competition_of(fixture))
    return True


@dataclass
class Fleet:
    conns: list[Connection]
    procs: list[BaseProcess]
    paths: list[list[str]]

    @classmethod
    def start(cls, port: int, paths: list[str], processes: int, first_ip: int = 2) -> Fleet:
        ctx = mp.get_context("spawn")
        shares = [paths[i::processes] for i in range(processes)]
        conns: list[Connection] = []
        procs: list[BaseProcess] = []
        for k, share in enumerate(shares):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(
                target=clients_main,
                args=(theirs, port, f"127.0.0.{first_ip + k}", share),
                daemon=True,
            )
            p.start()
            conns.append(mine)
            procs.append(p)
        return cls(conns, procs, shares)

    def connect(self) -> int:
        for c in self.conns:
            c.send("connect")
        return sum(c.recv() for c in self.conns)

    def report(self, command: str = "report") -> list[dict[str, Any]]:
        for c in self.conns:
            c.send(command)
        return [c.recv() for c in self.conns]

    def close(self) -> None:
        for c in self.conns:
            c.send("close")
        for c in self.conns:
            c.recv()
        for p in self.procs:
            p.join(10)


def start_gateways(
    kind: str, port: int, nats_url: str, count: int, heartbeat: float = 15.0
) -> list[BaseProcess]:
    ctx = mp.get_context("spawn")
    procs: list[BaseProcess] = [
        ctx.Process(target=gateway_main, args=(kind, port, nats_url, heartbeat), daemon=True)
        for _ in range(count)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    time.sleep(2.0 * count)  # every process has bound its socket and started its hub
    return procs


def stop(procs: list[BaseProcess]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(10)
        if p.is_alive():  # still closing thousands of streams (the naive peer): not our wait
            p.kill()
            p.join(10)


def rss(procs: list[BaseProcess]) -> int:
    return sum(psutil.Process(p.pid).memory_info().rss for p in procs)


def cpu(procs: list[BaseProcess]) -> float:
    return sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs)


def runqueue_wait(procs: list[BaseProcess]) -> float:
    """Seconds the processes spent runnable but waiting for a CPU (/proc/PID/schedstat)."""
    total = 0
    for p in procs:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{p.pid}/schedstat").read_text().split()[1])
    return total / 1e9


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latencies(events: list[Published], reports: list[dict[str, Any]]) -> tuple[int, list[float]]:
    """Frames received and their append-to-client latencies (ms)."""
    sent_at = {ev.seq * 2 + ev.log: ev.sent for ev in events}
    out = []
    frames = 0
    for rep in reports:
        codes = array.array("q")
        codes.frombytes(rep["codes"])
        times = array.array("d")
        times.frombytes(rep["times"])
        frames += len(codes)
        for code, t in zip(codes, times, strict=True):
            at = sent_at.get(code)
            if at is not None:
                out.append((t - at) * 1000)
    return frames, out


def expected_codes(events: list[Published]) -> Any:
    by_fixture: dict[int, list[int]] = defaultdict(list)
    for ev in events:
        by_fixture[ev.fixture].append(ev.seq * 2 + ev.log)

    def expected(path: str) -> set[int]:
        return {c for f, cs in by_fixture.items() if matches(path, f) for c in cs}

    return expected


def gaps_and_duplicates(events: list[Published], finals: list[dict[str, Any]]) -> tuple[int, int]:
    """Per client, every appended event its filter matches against what it received."""
    expected = expected_codes(events)
    gaps = dups = 0
    for rep in finals:
        for raw, path in zip(rep["per_client"], rep["paths"], strict=True):
            got = array.array("q")
            got.frombytes(raw)
            seen = set(got)
            dups += len(got) - len(seen)
            gaps += len(expected(path) - seen)
    return gaps, dups


def written_vs_received(
    port: int, kind: str, events: list[Published], finals: list[dict[str, Any]]
) -> None:
    """BENCH_SSE_COUNT=1: per connection, the frames its filter expects, the frames the gateway
    handed to the server for it, and the frames the client read (frames lost in the gateway
    show as expected > written; frames still in flight as written > received)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/counts", timeout=30) as r:
        written = orjson.loads(r.read())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hub", timeout=30) as r:
        hub_at = dict(orjson.loads(r.read()))
    if hub_at:
        upstream = [
            (hub_at[e.seq * 2 + e.log] - e.sent) * 1000
            for e in events
            if e.seq * 2 + e.log in hub_at
        ]
        acks = [(e.acked - e.sent) * 1000 for e in events]
        say(f"{kind}_append_acknowledged_p50", percentile(acks, 0.5), "ms")
        say(f"{kind}_append_acknowledged_p99", percentile(acks, 0.99), "ms")
        say(f"{kind}_append_to_hub_p50", percentile(upstream, 0.5), "ms")
        say(f"{kind}_append_to_hub_p99", percentile(upstream, 0.99), "ms")
        say(f"{kind}_append_to_hub_max", max(upstream, default=float("nan")), "ms")
        say(f"{kind}_events_not_seen_by_hub", len(events) - len(upstream), "events")
    expected = expected_codes(events)
    totals: defaultdict[str, int] = defaultdict(int)
    missing: Counter[int] = Counter()
    wanted: Counter[int] = Counter()
    dump: list[Any] | None = [] if os.environ.get("BENCH_SSE_DUMP") else None
    for rep in finals:
        for raw, path, name, got_bytes in zip(
            rep["per_client"], rep["paths"], rep["names"], rep["received"], strict=True
        ):
            want = len(expected(path))
            wrote_bytes, wrote = written.get(name, (0, 0))
            got = len(raw) // 8
            totals["expected"] += want
            totals["written"] += wrote
            totals["received"] += got
            totals["written_bytes"] += wrote_bytes
            totals["received_bytes"] += got_bytes
            totals["clients_short_written"] += wrote < want
            totals["clients_short_received"] += got < wrote
            totals["unknown_connections"] += name not in written
            lost = expected(path) - set(array.array("q", raw))
            missing.update(lost)
            if dump is not None:
                dump.append([name, path, want, wrote, got, sorted(lost)[:50]])
            for code in expected(path):
                wanted[code] += 1
    for key, value in totals.items():
        say(f"{kind}_count_{key}", value, "")
    if dump is not None:
        Path(os.environ["BENCH_SSE_DUMP"]).write_bytes(
            orjson.dumps({"clients": dump, "events": [e.__dict__ for e in events]})
        )
    whole = sum(1 for code, n in missing.items() if n == wanted[code])
    say(f"{kind}_count_events_with_a_missing_frame", len(missing), "events")
    say(f"{kind}_count_events_missing_for_every_subscriber", whole, "events")
    print(
        f"{kind}: missing by log (0 events, 1 forecasts): "
        f"{Counter(code % 2 for code in missing)}; first missing seqs "
        f"{sorted(code // 2 for code in missing)[:20]}",
        flush=True,
    )


async def quiesce(fleet: Fleet, events: list[Published], limit: float = 120.0) -> list[float]:
    """Wait until the clients stop receiving (late frames are lag, not loss)."""
    late: list[float] = []
    deadline = time.monotonic() + limit
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        await asyncio.sleep(2)
        frames, lat = latencies(events, await asyncio.to_thread(fleet.report))
        late.extend(lat)
        quiet = quiet + 1 if frames == 0 else 0
    return late


def say(name: str, value: float, unit: str) -> None:
    print(f"{name} {value:.6g} {unit}", flush=True)


async def matchday(
    nats_url: str, js: Any, publisher: Publisher, kind: str, port: int
) -> dict[int, dict[str, float]]:
    n = env_int("BENCH_SSE_CLIENTS", 10_000)
    rates = [int(r) for r in os.environ.get("BENCH_SSE_RATES", "100,200,400,800").split(",")]
    seconds = env_int("BENCH_SSE_SECONDS", 15)
    gateways = start_gateways(kind, port, nats_url, 1)
    paths = subscriptions(n)
    followers = [sum(matches(path, i) for path in paths) for i in range(FIXTURES)]
    fleet = Fleet.start(port, paths, env_int("BENCH_SSE_CLIENT_PROCS", 3))
    out: dict[int, dict[str, float]] = {}
    try:
        base = rss(gateways)
        await asyncio.to_thread(gc_pauses, port, kind, "startup")
        started = time.monotonic()
        connected = await asyncio.to_thread(fleet.connect)
        print(
            f"{kind}: {connected} clients subscribed (response head received) in "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        await asyncio.sleep(3)
        say(
            f"{kind}_memory_per_idle_connection",
            (rss(gateways) - base) / max(connected, 1) / 1024,
            "KB",
        )
        await asyncio.to_thread(gc_pauses, port, kind, "connecting")
        # Warm-up, not measured: the gateway meets every fixture and odds book once (a lookup in
        # the store each) as it would long before a matchday's peak.
        await publisher.run(20, 3)
        await asyncio.sleep(2)
        await asyncio.to_thread(gc_pauses, port, kind, "warmup")
        await asyncio.to_thread(fleet.report)  # clears
        await asyncio.to_thread(fleet.report, "final")
        publisher.events.clear()
        for rate in rates:
            first = len(publisher.events)
            cpu0, t0, wait0 = cpu(gateways), time.monotonic(), runqueue_wait(gateways)
            client_cpu0 = cpu(fleet.procs)
            await publisher.run(rate, seconds)
            await asyncio.sleep(2)
            took = time.monotonic() - t0
            busy = (cpu(gateways) - cpu0) / took
            waiting = (runqueue_wait(gateways) - wait0) / took
            client_busy = (cpu(fleet.procs) - client_cpu0) / took
            frames, lat = latencies(publisher.events, await asyncio.to_thread(fleet.report))
            offered = sum(followers[ev.fixture] for ev in publisher.events[first:])
            step = {
                # frames received during the appends and the 2 s after, per second of appends
                # (what was offered in those seconds); frames later still are in the next step
                "frames": frames / seconds,
                "offered": offered / seconds,
                "p50": percentile(lat, 0.5),
                "p99": percentile(lat, 0.99),
                "max": max(lat, default=float("nan")),
                "cpu": busy,
                "waiting": waiting,
                "rate": (len(publisher.events) - first) / seconds,
            }
            out[rate] = step
            tag = f"{kind}_{rate}eps"
            say(f"{tag}_offered_frames", step["offered"], "frames/s")
            say(f"{tag}_delivered_frames", step["frames"], "frames/s")
            say(f"{tag}_latency_p50", step["p50"], "ms")
            say(f"{tag}_latency_p99", step["p99"], "ms")
            say(f"{tag}_latency_max", step["max"], "ms")
            say(f"{tag}_server_cpu", step["cpu"] * 100, "%")
            # Time the gateway was ready to run but had no CPU (a busy shared box).
            say(f"{tag}_server_waiting_for_a_cpu", step["waiting"] * 100, "%")
            # The load generators' share: near 100 % per process, they (not the gateway) are
            # what the latency measures.
            say(f"{tag}_client_cpu_all_processes", client_busy * 100, "%")
            await asyncio.to_thread(gc_pauses, port, kind, f"{rate}eps")
            print(
                f"{tag}: appended {step['rate']:.0f} events/s; load average {os.getloadavg()}",
                flush=True,
            )
            if step["p99"] > 200 and rate != rates[0]:
                print(f"{kind}: p99 passed 200 ms at {rate} events/s; ramp stopped", flush=True)
                break
        late = await quiesce(fleet, publisher.events)
        finals = await asyncio.to_thread(fleet.report, "final")
        gaps, dups = gaps_and_duplicates(publisher.events, finals)
        if env_int("BENCH_SSE_COUNT", 0):
            written_vs_received(port, kind, publisher.events, finals)
        say(f"{kind}_gaps", gaps, "frames")
        say(f"{kind}_duplicates", dups, "frames")
        say(f"{kind}_late_frames_after_ramp", len(late), "frames")
        print(
            f"{kind}: {sum(r['errors'] for r in finals)} error/reset frames, "
            f"{sum(r['closed'] for r in finals)} connections closed by the server",
            flush=True,
        )
    finally:
        await asyncio.to_thread(fleet.close)
        stop(gateways)
    return out


async def churn(nats_url: str, publisher: Publisher, port: int) -> None:
    reconnects = env_int("BENCH_SSE_RECONNECTS", 10_000)
    gateways = start_gateways("fanout", port, nats_url, 1)
    try:
        await publisher.run(400, 15)  # a backlog: resumes replay it from JetStream and the buffer
        heads = [max((e.seq for e in publisher.events if e.log == lg), default=0) for lg in (0, 1)]
        await asyncio.to_thread(gc_pauses, port, "churn", "backlog")
        ctx = mp.get_context("spawn")
        procs, conns = [], []
        per = reconnects // 2
        for k in range(2):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(
                target=churn_main, args=(theirs, port, f"127.0.0.{20 + k}", per, k), daemon=True
            )
            p.start()
            mine.send(f"{heads[0]}-{heads[1]}")
            procs.append(p)
            conns.append(mine)
        started = time.monotonic()
        writing = asyncio.create_task(publisher.run(100, 1_000_000))
        results = []
        for c in conns:
            results.extend(await asyncio.to_thread(c.recv))
        writing.cancel()
        await publisher.settle()
        took = time.monotonic() - started
        await asyncio.to_thread(gc_pauses, port, "churn", "sessions")
        for p in procs:
            p.join(10)
    finally:
        stop(gateways)
    events = sorted(publisher.events, key=lambda e: (e.log, e.seq))
    gaps = dups = checked = resets = failed = 0
    firsts = [first for *_, first in results if first >= 0]
    for path, cursor, raw, last, errors, _ in results:
        if errors < 0:
            failed += 1
            continue
        resets += errors
        got = array.array("q")
        got.frombytes(raw)
        if not got:
            continue
        checked += 1
        c0, c1 = (int(x) for x in cursor.split("-"))
        l0, l1 = (int(x) for x in last.split(b"-"))
        want = [
            e.seq * 2 + e.log
            for e in events
            if matches(path, e.fixture)
            and ((e.log == 0 and c0 < e.seq <= l0) or (e.log == 1 and c1 < e.seq <= l1))
        ]
        seen = set(got)
        dups += len(got) - len(seen)
        gaps += len(set(want) - seen)
    say("churn_reconnects", len(results), "sessions")
    say("churn_sessions_with_a_frame", len(firsts), "sessions")
    say("churn_first_frame_p50", percentile([f * 1000 for f in firsts], 0.5), "ms")
    say("churn_first_frame_p99", percentile([f * 1000 for f in firsts], 0.99), "ms")
    say("churn_sessions_checked", checked, "sessions")
    say("churn_gaps", gaps, "frames")
    say("churn_duplicates", dups, "frames")
    say("churn_resets", resets, "frames")
    say("churn_failed_connects", failed, "sessions")
    print(
        f"churn: {len(results)} sessions in {took:.1f} s; load average {os.getloadavg()}",
        flush=True,
    )


async def wide(nats_url: str, publisher: Publisher, port: int) -> None:
    n = env_int("BENCH_SSE_WIDE", 40_000)
    count = env_int("BENCH_SSE_GATEWAYS", 4)
    gateways = start_gateways("fanout", port, nats_url, count, heartbeat=5.0)
    fleet = Fleet.start(
        port, subscriptions(n, seed=11), env_int("BENCH_SSE_WIDE_PROCS", 8), first_ip=40
    )
    try:
        base = rss(gateways)
        started = time.monotonic()
        connected = await asyncio.to_thread(fleet.connect)
        print(
            f"wide: {connected} connections across {count} gateway processes in "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        say("wide_connections", connected, "connections")
        await asyncio.to_thread(fleet.report)
        await asyncio.to_thread(fleet.report, "final")
        publisher.events.clear()
        await publisher.run(20, 12)
        late = await quiesce(fleet, publisher.events)
        finals = await asyncio.to_thread(fleet.report, "final")
        gaps, dups = gaps_and_duplicates(publisher.events, finals)
        beats = [b for r in finals for b in r["beats"]]
        say("wide_without_heartbeat", sum(1 for b in beats if b == 0), "connections")
        say("wide_gaps", gaps, "frames")
        say("wide_duplicates", dups, "frames")
        say("wide_latency_p99", percentile(late, 0.99), "ms")
        say("wide_memory_per_connection", (rss(gateways) - base) / max(connected, 1) / 1024, "KB")
        step = {"closed": sum(r["closed"] for r in finals)}
        print(f"wide: closed {step['closed']}; load average {os.getloadavg()}", flush=True)
    finally:
        await asyncio.to_thread(fleet.close)
        stop(gateways)


def prioritise(nats_pid: int | None) -> None:
    """BENCH_SSE_NICE for this process (whose children inherit it) and the nats-server."""
    nice = env_int("BENCH_SSE_NICE", 0)
    autogroup = Path("/proc/self/autogroup")
    if nice and autogroup.exists():
        # With the kernel's autogroup scheduling (sched_autogroup_enabled=1, as here) CPU is
        # shared fairly between sessions first, and a nice value only ranks the processes of
        # one session: the benchmark's session (every process it spawns) gets the nice too.
        autogroup.write_text(str(nice))
        print(f"autogroup: {autogroup.read_text().strip()}", flush=True)
    if nice and nats_pid is not None:
        # The event store and the feed's appends are part of what append-to-client measures:
        # on a shared box they get the gateway's priority too.
        os.setpriority(os.PRIO_PROCESS, nats_pid, nice)
        os.nice(nice)


async def main() -> None:
    import nats

    from infra.embedded.nats import EmbeddedNats, NatsConfig
    from infra.embedded.ports import free_port

    scenarios = os.environ.get("BENCH_SSE_SCENARIOS", "matchday,churn").split(",")
    server = EmbeddedNats(
        NatsConfig(
            store_dir=Path(tempfile.mkdtemp()),
            port=free_port(),
            monitor_port=free_port(),
            sync_always=False,
        )
    )
    server.start()
    prioritise(server.pid)
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    publisher = Publisher(js)
    await publisher.setup()
    print(f"load average at start {os.getloadavg()}; {os.cpu_count()} cores", flush=True)
    try:
        if "matchday" in scenarios:
            print(
                "peer: naive sse-starlette endpoint (asyncio.Queue per client, EventSourceResponse "
                "encoding every frame per client), same clients and rates, same run",
                flush=True,
            )
            ours = await matchday(server.url, js, publisher, "fanout", free_port())
            if not env_int("BENCH_SSE_PEER", 1):  # diagnosis runs only
                return
            naive = await matchday(server.url, js, publisher, "naive", free_port())
            best_ours = max(s["frames"] for s in ours.values())
            best_naive = max(s["frames"] for s in naive.values())
            say("fanout_vs_naive_best_delivered", best_ours / max(best_naive, 1), "x")
            ok_ours = [r for r, s in ours.items() if s["p99"] < 200]
            ok_naive = [r for r, s in naive.items() if s["p99"] < 200]
            if ok_ours and ok_naive:
                a = ours[max(ok_ours)]["frames"]
                b = naive[max(ok_naive)]["frames"]
                say("fanout_vs_naive_under_200ms_p99", a / max(b, 1), "x")
        if "churn" in scenarios:
            await churn(server.url, publisher, free_port())
        if "wide" in scenarios:
            await wide(server.url, publisher, free_port())
    finally:
        await nc.close()
        server.stop()
    _ = statistics


if __name__ == "__main__":
    asyncio.run(main())
