"""`sportcast serve gateway --workers 2` against the real nats-server and PostgreSQL: two gateway
processes behind one port, each resuming a client exactly."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from domain.access import Scope
from infra.embedded.ports import free_port
from tests.access_helpers import key_store, make_key
from tests.sse_support import Writers, read_frames, stored_topics

SPORTCAST = str(Path(sys.executable).parent / "sportcast")
WORKERS = 2


class Workers:
    """The command as a child process; stopped with SIGTERM (bounded), children included."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["SPORTCAST_GATEWAY_PORT"])
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [SPORTCAST, "serve", "gateway", "--workers", str(WORKERS)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            if len(self.serving()) == WORKERS:
                try:
                    if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        raise AssertionError("the workers never served: " + self.log.read_text()[-3000:])

    def serving(self) -> dict[int, psutil.Process]:
        """The worker processes that hold the listening socket."""
        out = {}
        for child in psutil.Process(self.proc.pid).children():
            try:
                if any(
                    c.status == psutil.CONN_LISTEN and c.laddr.port == self.port
                    for c in child.net_connections("tcp")
                ):
                    out[child.pid] = child
            except psutil.NoSuchProcess:
                continue
        return out

    def worker_of(self, client_port: int) -> int:
        """Which worker holds the server side of the connection from ``client_port``."""
        holders = self.holders()
        if client_port not in holders:
            raise AssertionError(f"no worker holds the connection from port {client_port}")
        return holders[client_port]

    def holders(self) -> dict[int, int]:
        """Client port -> the worker holding the server side of that connection, in one look
        (idle keep-alive connections close after uvicorn's 5 s: looking up 40 one at a time
        took longer than that at load 12)."""
        return {
            c.raddr.port: pid
            for pid, proc in self.serving().items()
            for c in proc.net_connections("tcp")
            if c.raddr and c.laddr.port == self.port
        }

    def stop(self) -> None:
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:  # it ended by itself: its log says why
            children = []
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for p in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def gateway_env(
    writers: Writers, postgres_url: str, unique_name: str, tmp_path: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")}
    env.update(
        {
            "SPORTCAST_NATS_URL": writers.nats_url,
            "SPORTCAST_POSTGRES_URL": postgres_url,
            "SPORTCAST_GATEWAY_PORT": str(free_port()),
            "SPORTCAST_STATE_DIR": str(tmp_path / "state"),
            "SPORTCAST_STREAM_NAME": writers.events_stream,
            "SPORTCAST_FORECASTER_STREAM": writers.forecasts_stream,
            "SPORTCAST_FEED_HEALTH_STREAM": unique_name + "H",
            "SPORTCAST_MODEL_REGISTRY_STREAM": unique_name + "R",
            "SPORTCAST_MODEL_BUCKET": unique_name + "M",
        }
    )
    return env


def listening_socket(proc: psutil.Process, port: int) -> str:
    """The kernel's name (``socket:[inode]``) of the socket ``proc`` listens on ``port``."""
    (fd,) = [
        c.fd
        for c in proc.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    return os.readlink(f"/proc/{proc.pid}/fd/{fd}")


async def session(workers: Workers, token: str, cursor: int, frames: int) -> tuple[int, list[int]]:
    """One stream connection resumed from ``cursor``: the worker that served it and the ids
    of its first ``frames`` match events."""
    ids: list[int] = []
    async with (
        httpx.AsyncClient(timeout=None) as client,
        asyncio.timeout(20),
        client.stream(
            "GET",
            f"{workers.base}/v1/streams/match-events",
            headers={"Last-Event-ID": str(cursor), "Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        stream = response.extensions["network_stream"]
        pid = workers.worker_of(stream.get_extra_info("client_addr")[1])
        async for frame in read_frames(response):
            if frame.comment is not None:
                continue
            assert frame.event != "reset", frame.data
            ids.append(int(frame.id or 0))
            if len(ids) >= frames:
                break
    return pid, ids


async def match_events(writers: Writers) -> list[int]:
    topics = await stored_topics(writers.nats_url, writers.events_stream)
    return [s for s, t in topics if t.startswith("domain.fixture:Fixture.")]


async def test_each_worker_resumes_a_client_exactly(
    writers: Writers,
    postgres_url: str,
    unique_name: str,
    tmp_path: Path,
) -> None:
    async with key_store(postgres_url) as store:
        token, _ = await make_key(store, Scope.FORECASTS_READ, rate=100_000, connections=50)
    fixture = writers.fixture("world-cup", "Russia", "Saudi Arabia")
    for minute in range(1, 13):
        await asyncio.to_thread(writers.goal, fixture, minute)
    env = gateway_env(writers, postgres_url, unique_name, tmp_path)
    env["SPORTCAST_SSE_BUFFER_EVENTS"] = "5"  # resumes read JetStream history, then the buffer
    workers = Workers(env, tmp_path / "gateway.log")
    try:
        await asyncio.to_thread(workers.wait_ready)
        pids = set(workers.serving())
        assert len(pids) == WORKERS

        stop_writing = asyncio.Event()

        async def live_goals() -> None:
            playing, minute = fixture, 13
            while not stop_writing.is_set():
                if minute > 120:
                    playing = await asyncio.to_thread(writers.fixture, "world-cup", "A", "B")
                    minute = 1
                await asyncio.to_thread(writers.goal, playing, minute)
                minute += 1
                await asyncio.sleep(0.05)

        writing = asyncio.create_task(live_goals())
        stored = await match_events(writers)
        first = stored[1]  # the client saw the fixture's first two events
        cursor, received, served_by = first, [], []
        rng = random.Random(15)
        # Reconnect with the last id received until both workers have resumed this client
        # (the kernel picks the worker; bounded).
        for _ in range(40):
            pid, ids = await session(workers, token, cursor, rng.randint(2, 5))
            served_by.append(pid)
            received.extend(ids)
            cursor = ids[-1]
            switched = any(a != b for a, b in itertools.pairwise(served_by))
            if set(served_by) == pids and switched and len(served_by) >= 4:
                break
        stop_writing.set()
        await writing
        assert set(served_by) == pids, served_by
        every = await match_events(writers)
        assert received == [s for s in every if first < s <= cursor]  # no gap, no duplicate

        # The workers keep no embedded analytics (one DuckDB writer per file).
        assert not list((tmp_path / "state").glob("*.duckdb"))
    finally:
        await asyncio.to_thread(workers.stop)
    assert workers.proc.returncode == 0, workers.log.read_text()[-3000:]


async def test_each_worker_accepts_on_its_own_socket_and_gets_a_share(
    writers: Writers, postgres_url: str, unique_name: str, tmp_path: Path
) -> None:
    """The workers do not share one listening socket (with one, the worker that woke first took
    the connection: once 41,791 answers against 1,197): each has its own, bound with
    SO_REUSEPORT, and the kernel spreads connections over them by a hash of the addresses,
    whatever the load. 40 connections held open at once: each worker holds at least 8 (with
    an even hash, fewer than 8 of 40 on one worker has a probability of about 1e-5)."""
    workers = Workers(
        gateway_env(writers, postgres_url, unique_name, tmp_path), tmp_path / "gateway.log"
    )
    try:
        await asyncio.to_thread(workers.wait_ready)
        serving = workers.serving()
        assert len(serving) == WORKERS
        sockets = {listening_socket(p, workers.port) for p in serving.values()}
        assert len(sockets) == WORKERS, sockets  # one socket each, none shared

        clients = [httpx.AsyncClient(timeout=20) for _ in range(40)]
        try:
            held = await asyncio.gather(*(c.get(f"{workers.base}/healthz") for c in clients))
            assert all(r.status_code == 200 for r in held)
            client_ports = [
                r.extensions["network_stream"].get_extra_info("client_addr")[1] for r in held
            ]
            holders = await asyncio.to_thread(workers.holders)
            assert set(client_ports) <= set(holders), (client_ports, holders)
            held_by = collections.Counter(holders[port] for port in client_ports)
            assert set(held_by) == set(serving), held_by
            assert min(held_by.values()) >= 8, held_by
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
    finally:
        await asyncio.to_thread(workers.stop)
    assert workers.proc.returncode == 0, workers.log.read_text()[-3000:]
