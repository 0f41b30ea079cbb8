"""Latest-forecast REST reads: requests/s and latency percentiles under wrk, against two peers
served the same way in the same run.

Target (issue 15): >= 8,000 requests/s with p99 < 50 ms. Setup: a real PostgreSQL (embedded)
with the projections' tables, 1,000 fixtures with two latest forecasts each, one API key; the
gateway's REST API (API key check, rate limit, plan check, answer copies kept as in
production: at most 60 s, the commit notifications and the 1 s watcher; no commits during the
run; BENCH_CACHE_SECONDS=0 reads PostgreSQL every time) in BENCH_WORKERS processes (default:
one per core) served as ``sportcast serve gateway --workers N`` serves it (uvicorn's process
manager, a SO_REUSEPORT socket per worker; BENCH_SHARED_SOCKET=1: ``uvicorn --workers``, one
socket shared by the workers, as before session 9); wrk (Debian package) with
BENCH_WRK_THREADS threads and BENCH_CONNECTIONS connections rotates through the fixtures.
Without wrk a multi-process asyncio load generator does the same (benchmarks/loadgen.py).

Peers, same server settings: a bare Starlette endpoint doing one asyncpg query per request
(no auth, no cache), and a Starlette endpoint answering fixed bytes (the HTTP stack's floor:
since session 9 as many bytes as the gateway's answer, with its headers).
The three are measured in turn, BENCH_ROUNDS times (default 3), so that each round compares
them under about the same load; each run reports the server processes' CPU time per request
(psutil), which depends less on what else runs on the box than requests/s do. The gateway is
built as in production: a meter provider configured (FastAPI then meters every request it
routes; BENCH_TELEMETRY=0 leaves it unconfigured).

Matchday variant: BENCH_COMMITS_PER_S=N commits a new latest forecast of a random fixture N
times a second during each measurement (for every app alike), each as the forecasts projection
commits a page (its transaction, position and NOTIFY naming the fixture:
readmodels.postgres.positions.commit_page); BENCH_COMMIT_KEYS=0 sends the notice without the
fixture (as before session 9: every copy dropped per commit). It reports the gateway's hit rate
(answers sent from a copy / requests, counted by its workers) beside req/s and p99.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

from domain.access import Limits, Plan, Scope
from infra.access.keystore import PostgresKeyStore, ensure_schema
from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.positions import begin_page, commit_page, projection_lock_key
from readmodels.postgres.schemas import live_schema

FIXTURES = int(os.environ.get("BENCH_FIXTURES", "1000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))  # one per core
THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
DURATION = int(os.environ.get("BENCH_DURATION", "15"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "10"))
"""Seconds of load before each measurement, for every app alike. The gateway's copies are
made per worker by the first request for each fixture there: a 3 s warm-up at load 15 left
250-1,000 fixtures per worker unread, and their misses (route, query, encoding) in the first
seconds of the measurement were what made its p99 longer than the floor's (session 9)."""
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ACCESS_LOG = os.environ.get("BENCH_ACCESS_LOG") == "1"
"""uvicorn's access log on (one line per request, to /dev/null), as uvicorn's default is."""
NICE = int(os.environ.get("BENCH_NICE", "0"))
"""Niceness of the servers and wrk alike (e.g. -10, as root: less disturbed by the box's
other work; the comparison stays fair, the absolute figures are then not the box's normal)."""
COMMITS_PER_S = float(os.environ.get("BENCH_COMMITS_PER_S", "0"))
COMMIT_KEYS = os.environ.get("BENCH_COMMIT_KEYS", "1") == "1"
SHARED_SOCKET = os.environ.get("BENCH_SHARED_SOCKET") == "1"
"""uvicorn's ``--workers`` sharing one listening socket instead of production's way."""


def niced(command: list[str]) -> list[str]:
    return ["nice", "-n", str(NICE), *command] if NICE else command


HERE = Path(__file__).resolve().parent


@dataclass
class Run:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    load_before: float
    load_after: float
    server_cpu_us: float
    """CPU time (user + system) of the server's worker processes per request served."""
    connections: list[int]
    """Connections each worker held 2 s into the measurement (how evenly they were spread)."""
    hit_rate: float | None = None
    """Answers the gateway's workers sent from a copy / requests (None: not counted)."""
    commits_per_s: float = 0.0
    drops: int | None = None
    """How many times the gateway's workers dropped copies (per commit notice or reading)."""


@contextmanager
def postgres() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="sportcast-bench-rest-"))
    root.chmod(0o755)  # embedded PostgreSQL runs as its own user when we are root
    server = EmbeddedPostgres(PostgresConfig(data_dir=root / "data", port=free_port()))
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def seed(url: str) -> tuple[list[uuid.UUID], str]:
    for name in ("fixtures", "forecasts"):
        await asyncio.to_thread(apply_migrations, url, name, live_schema(name))
    kickoff = datetime(2026, 12, 5, 15, tzinfo=UTC)
    ids = [uuid.uuid4() for _ in range(FIXTURES)]
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "fixtures",
            schema_name="rm_fixtures",
            columns=(
                "fixture_id",
                "sport",
                "competition",
                "season",
                "home",
                "away",
                "kickoff",
                "status",
                "position",
            ),
            records=[
                (
                    fid,
                    "football",
                    f"C{i % 10}",
                    "2026",
                    f"H{i}",
                    f"A{i}",
                    kickoff + timedelta(minutes=i),
                    "scheduled",
                    i + 1,
                )
                for i, fid in enumerate(ids)
            ],
        )
        rows = []
        for i, fid in enumerate(ids):
            for k, kind in enumerate(("football-1x2", "football-inplay")):
                position = 2 * i + k + 1
                rows.append(
                    (
                        fid,
                        kind,
                        position,
                        1,
                        kickoff,
                        kickoff,
                        "odds",
                        f"{kind}-abc",
                        "sha256:abc",
                        "1x2",
                        ["home", "draw", "away"],
                        [0.45, 0.3, 0.25],
                        [0.44, 0.29, 0.27],
                        [0.01, 0.01, -0.02],
                        position,
                    )
                )
        await conn.copy_records_to_table(
            "latest_forecasts",
            schema_name="rm_forecasts",
            columns=(
                "fixture_id",
                "model_kind",
                "position",
                "version",
                "issued_at",
                "kickoff",
                "trigger",
                "model_id",
                "artifact_hash",
                "market",
                "outcomes",
                "probabilities",
                "market_probabilities",
                "edge",
                "as_of_position",
            ),
            records=rows,
        )
        await conn.execute(
            "INSERT INTO rm_forecasts.projection_position (stream, position) VALUES ($1, $2)",
            "forecasts",
            2 * FIXTURES,
        )
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        await ensure_schema(pool)
        new, _ = await PostgresKeyStore(pool).create(
            name="bench",
            scopes={Scope.FORECASTS_READ},
            plan=Plan.parse(["*"]),
            limits=Limits(requests_per_minute=10**9, connections=10),
        )
    finally:
        await pool.close()
    return ids, new.token


def uvicorn_command(factory: str, port: int) -> list[str]:
    """uvicorn with BENCH_WORKERS workers on one shared socket (BENCH_SHARED_SOCKET=1)."""
    logging = (
        ["--log-level", "info"] if ACCESS_LOG else ["--no-access-log", "--log-level", "warning"]
    )
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"benchmarks.rest_apps:{factory}",
        "--factory",
        "--workers",
        str(WORKERS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        *logging,
    ]


def workers_command(factory: str, port: int) -> list[str]:
    """BENCH_WORKERS processes as ``sportcast serve gateway --workers N`` runs them."""
    return [
        sys.executable,
        "-m",
        "benchmarks.serve_workers",
        f"benchmarks.rest_apps:{factory}",
        str(port),
        str(WORKERS),
        "1" if ACCESS_LOG else "0",
    ]


def listening_workers(server: psutil.Process, port: int) -> int:
    """How many of the server's processes accept on ``port``."""
    count = 0
    for child in server.children(recursive=True):
        try:
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port
                for c in child.net_connections("tcp")
            ):
                count += 1
        except psutil.NoSuchProcess:
            continue
    return count


@contextmanager
def serving(factory: str, url: str) -> Iterator[tuple[str, list[psutil.Process]]]:
    port = free_port()
    env = {**os.environ, "BENCH_POSTGRES_URL": url}
    command = uvicorn_command(factory, port) if SHARED_SOCKET else workers_command(factory, port)
    proc = subprocess.Popen(
        niced(command),
        env=env,
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL if ACCESS_LOG else None,
    )
    base = f"http://127.0.0.1:{port}"
    server = psutil.Process(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while True:  # every worker listens (each has its own socket) and one answers
            try:
                if SHARED_SOCKET or listening_workers(server, port) == WORKERS:
                    httpx.get(base + "/", timeout=1)
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{factory} did not start")
            time.sleep(0.2)
        yield base, [server]
    finally:
        proc.terminate()
        proc.wait(30)


def lua_script(ids: list[uuid.UUID], token: str, path: Path) -> Path:
    listed = ",".join(f'"{i}"' for i in ids)
    path.write_text(
        f"local ids = {{{listed}}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        '  return wrk.format("GET", "/v1/fixtures/" .. ids[(n % #ids) + 1] .. '
        f'"/forecasts/latest", {{["Authorization"] = "Bearer {token}"}})\n'
        "end\n"
    )
    return path


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(base: str, script: Path, seconds: int) -> tuple[float, float, float, int, int]:
    """req/s, p50 and p99 (ms), non-2xx/3xx answers, and requests answered (wrk's own count:
    its run lasts a little longer than ``seconds``)."""
    out = subprocess.run(
        niced(
            [
                "wrk",
                "-t",
                str(THREADS),
                "-c",
                str(CONNECTIONS),
                "-d",
                f"{seconds}s",
                "--latency",
                "-s",
                str(script),
                base,
            ]
        ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    answered = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p50, p99, errors, answered


def server_cpu(servers: list[psutil.Process]) -> float:
    """CPU seconds spent so far by the server's processes (uvicorn's workers and itself)."""
    total = 0.0
    for proc in [p for server in servers for p in (server, *server.children(recursive=True))]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class Commits:
    """A new latest forecast of a random fixture committed COMMITS_PER_S times a second, each
    the way the forecasts projection commits a page, on a thread of its own."""

    def __init__(self, url: str, ids: list[uuid.UUID]) -> None:
        self._url, self._ids = url, ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._commit()))
        self.done = 0

    async def _commit(self) -> None:
        conn = await asyncpg.connect(self._url)
        rng = random.Random(15)
        try:
            position = int(
                await conn.fetchval(
                    "SELECT position FROM rm_forecasts.projection_position WHERE stream = $1",
                    "forecasts",
                )
            )
            due = time.monotonic()
            while not self._stop.is_set():
                fixture = rng.choice(self._ids)
                position += 1
                await conn.execute(begin_page(projection_lock_key("forecasts")))
                await conn.execute(
                    "UPDATE rm_forecasts.latest_forecasts SET position = $1, as_of_position = $1"
                    " WHERE fixture_id = $2 AND model_kind = 'football-1x2'",
                    position,
                    fixture,
                )
                keys = {str(fixture)} if COMMIT_KEYS else None
                await conn.execute(
                    commit_page(
                        "rm_forecasts",
                        "forecasts",
                        "forecasts",
                        position,
                        caught_up=True,
                        keys=keys,
                    )
                )
                self.done += 1
                due += 1 / COMMITS_PER_S
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        finally:
            await conn.close()

    def __enter__(self) -> Commits:
        if COMMITS_PER_S > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


def fast_answers(servers: list[psutil.Process], port: int, directory: Path) -> tuple[int, int]:
    """The fast answers the gateway's workers have sent so far and how many times they dropped
    copies (each tells on SIGUSR1)."""
    nonce = uuid.uuid4().hex
    (directory / "nonce").write_text(nonce)
    workers = [
        c
        for server in servers
        for c in server.children(recursive=True)
        if any(k.status == psutil.CONN_LISTEN and k.laddr.port == port for k in c.net_connections())
    ]
    for worker in workers:
        worker.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 20
    total = drops = 0
    for worker in workers:
        told = directory / str(worker.pid)
        while True:
            said = told.read_text().split() if told.exists() else []
            if said and said[0] == nonce:
                total += int(said[1])
                drops += int(said[2])
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker.pid} did not tell its fast answers")
            time.sleep(0.05)
    return total, drops


def held_connections(servers: list[psutil.Process], port: int) -> list[int]:
    """How many established connections to ``port`` each worker process holds."""
    counts = []
    for child in [c for server in servers for c in server.children(recursive=True)]:
        try:
            held = sum(
                1
                for c in child.net_connections("tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
            )
        except psutil.NoSuchProcess:
            continue
        if held:
            counts.append(held)
    return sorted(counts)


def measure(
    name: str, factory: str, url: str, ids: list[uuid.UUID], token: str, script: Path
) -> Run:
    counting = Path(tempfile.mkdtemp(prefix="sportcast-bench-counts-"))
    os.environ["BENCH_COUNTS_DIR"] = str(counting)
    with serving(factory, url) as (base, servers):
        port = int(base.rsplit(":", 1)[1])
        spread: list[int] = []
        sampler = threading.Timer(2, lambda: spread.extend(held_connections(servers, port)))
        counted = name == "rest_latest"
        if shutil.which("wrk"):
            wrk(base, script, WARMUP)  # pools filled, answer copies made in every worker
        else:
            from benchmarks.loadgen import generate

            generate(base, ids, token, WARMUP, CONNECTIONS)
        fast, dropped = fast_answers(servers, port, counting) if counted else (0, 0)
        with Commits(url, ids) as commits:
            before, cpu = os.getloadavg()[0], server_cpu(servers)
            sampler.start()
            if shutil.which("wrk"):
                rps, p50, p99, errors, answered = wrk(base, script, DURATION)
            else:
                rps, p50, p99, errors = generate(base, ids, token, DURATION, CONNECTIONS)
                answered = round(rps * DURATION)
            cpu = server_cpu(servers) - cpu
            after = os.getloadavg()[0]
        hits = drops = None
        if counted:
            hits, drops = (
                a - b
                for a, b in zip(fast_answers(servers, port, counting), (fast, dropped), strict=True)
            )
        sampler.join()
    shutil.rmtree(counting, ignore_errors=True)
    served = max(1, answered)
    return Run(
        name,
        rps,
        p50,
        p99,
        errors,
        before,
        after,
        cpu / served * 1e6,
        spread,
        None if hits is None else min(1.0, hits / served),
        commits.done / DURATION,
        drops,
    )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    runs: dict[str, list[Run]] = {"rest_latest": [], "peer_asyncpg": [], "peer_static": []}
    factories = {
        "rest_latest": "gateway",
        "peer_asyncpg": "peer_asyncpg",
        "peer_static": "peer_static",
    }
    with postgres() as url, tempfile.TemporaryDirectory() as tmp:
        ids, token = asyncio.run(seed(url))
        script = lua_script(ids, token, Path(tmp) / "latest.lua")
        only = os.environ.get("BENCH_ONLY")  # e.g. rest_latest,peer_static (no ratios then)
        for round_no in range(1, ROUNDS + 1):
            for name, factory in factories.items():
                if only and name not in only.split(","):
                    continue
                run = measure(name, factory, url, ids, token, script)
                runs[name].append(run)
                print(
                    f"round {round_no} {name}: {run.requests_per_s:.0f} req/s, p50 "
                    f"{run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, {run.errors} errors, "
                    f"server CPU {run.server_cpu_us:.0f} us/request, connections per worker "
                    f"{run.connections}, "
                    + (f"hit rate {run.hit_rate:.3f}, " if run.hit_rate is not None else "")
                    + (f"{run.commits_per_s:.0f} commits/s, " if COMMITS_PER_S else "")
                    + (f"{run.drops} drops, " if run.drops is not None else "")
                    + "load "
                    f"{run.load_before:.2f}->{run.load_after:.2f}",
                    flush=True,
                )
    if only:
        return
    generator = "wrk" if shutil.which("wrk") else "benchmarks/loadgen.py"
    print(
        f"load generator: {generator}, {THREADS} thread(s), {CONNECTIONS} connections, "
        f"{DURATION} s after {WARMUP} s of warm-up; uvicorn {WORKERS} workers (uvloop, "
        f"httptools); {FIXTURES} fixtures; "
        f"{ROUNDS} interleaved rounds (medians below); nice {NICE}; "
        f"{'one shared socket' if SHARED_SOCKET else 'a SO_REUSEPORT socket per worker'}"
    )
    print("peer: bare Starlette + one asyncpg query per request, no auth or cache (same run)")
    print(
        "peer: Starlette answering fixed bytes (an answer's size and headers), the HTTP "
        "stack's floor (same run)"
    )
    for name, measured in runs.items():
        print(f"{name}_requests_per_s {median([r.requests_per_s for r in measured]):.0f} req/s")
        print(f"{name}_p50 {median([r.p50_ms for r in measured]):.2f} ms")
        print(f"{name}_p99 {median([r.p99_ms for r in measured]):.2f} ms")
        print(f"{name}_errors {sum(r.errors for r in measured)} responses")
        print(f"{name}_server_cpu {median([r.server_cpu_us for r in measured]):.0f} us/request")
        rates = [r.hit_rate for r in measured if r.hit_rate is not None]
        if rates:
            print(f"{name}_hit_rate {median(rates):.3f} ({COMMITS_PER_S:g} commits/s asked)")
        loads = [r.load_before for r in measured] + [r.load_after for r in measured]
        print(f"{name}_loadavg_1m {min(loads):.2f}-{max(loads):.2f}")
    ours, bare, floor = runs["rest_latest"], runs["peer_asyncpg"], runs["peer_static"]
    for peer, theirs in (("peer_asyncpg", bare), ("peer_static", floor)):
        per_round = [o.requests_per_s / t.requests_per_s for o, t in zip(ours, theirs, strict=True)]
        cpu = [t.server_cpu_us / o.server_cpu_us for o, t in zip(ours, theirs, strict=True)]
        print(
            f"rest_latest_vs_{peer} {median(per_round):.2f} x requests/s "
            f"(per round {', '.join(f'{r:.2f}' for r in per_round)}); "
            f"{median(cpu):.2f} x less server CPU per request"
        )
    best = max(ours, key=lambda r: r.requests_per_s)
    met = [r for r in ours if r.requests_per_s >= 8000 and r.p99_ms < 50 and r.errors == 0]
    print(
        f"target (>= 8000 req/s, p99 < 50 ms, 0 errors): met in {len(met)} of {len(ours)} "
        f"rounds (best {best.requests_per_s:.0f} req/s, p99 {best.p99_ms:.2f} ms)"
    )


if __name__ == "__main__":
    main()
