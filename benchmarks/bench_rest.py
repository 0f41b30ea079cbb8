"""Latest-forecast REST reads: requests/s and latency percentiles under wrk, against two peers
served the same way in the same run.

Target (issue 15): >= 8,000 requests/s with p99 < 50 ms. Setup: a real PostgreSQL (embedded)
with the projections' tables, 1,000 fixtures with two latest forecasts each, one API key; the
gateway's REST API (API key check, rate limit, plan check, answer copy: 10 s as in the settings,
no commits during the run; BENCH_CACHE_SECONDS=0 reads PostgreSQL every time) under uvicorn with
BENCH_WORKERS workers (default 2); wrk (Debian package) with BENCH_WRK_THREADS threads and
BENCH_CONNECTIONS connections rotates through the fixtures. Without wrk a multi-process asyncio
load generator does the same (benchmarks/loadgen.py).

Peers, same server settings: a bare Starlette endpoint doing one asyncpg query per request
(no auth, no cache), and a Starlette endpoint answering fixed bytes (the HTTP stack's floor).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from domain.access import Limits, Plan, Scope
from infra.access.keystore import PostgresKeyStore, ensure_schema
from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.schemas import live_schema

FIXTURES = int(os.environ.get("BENCH_FIXTURES", "1000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
DURATION = int(os.environ.get("BENCH_DURATION", "15"))
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


@contextmanager
def serving(factory: str, url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BENCH_POSTGRES_URL": url}
    proc = subprocess.Popen(
        [
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
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=HERE.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{factory} did not start") from None
                time.sleep(0.2)
        yield base
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


def wrk(base: str, script: Path, seconds: int) -> tuple[float, float, float, int]:
    out = subprocess.run(
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
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return rps, p50, p99, errors


def measure(
    name: str, factory: str, url: str, ids: list[uuid.UUID], token: str, script: Path
) -> Run:
    with serving(factory, url) as base:
        if shutil.which("wrk"):
            wrk(base, script, 3)  # warm-up: pools filled, answer copies made
            before = os.getloadavg()[0]
            rps, p50, p99, errors = wrk(base, script, DURATION)
        else:
            from benchmarks.loadgen import generate

            generate(base, ids, token, 3, CONNECTIONS)
            before = os.getloadavg()[0]
            rps, p50, p99, errors = generate(base, ids, token, DURATION, CONNECTIONS)
        after = os.getloadavg()[0]
    return Run(name, rps, p50, p99, errors, before, after)


def main() -> None:
    with postgres() as url, tempfile.TemporaryDirectory() as tmp:
        ids, token = asyncio.run(seed(url))
        script = lua_script(ids, token, Path(tmp) / "latest.lua")
        ours = measure("rest_latest", "gateway", url, ids, token, script)
        bare = measure("peer_asyncpg", "peer_asyncpg", url, ids, token, script)
        floor = measure("peer_static", "peer_static", url, ids, token, script)
    generator = "wrk" if shutil.which("wrk") else "benchmarks/loadgen.py"
    print(
        f"load generator: {generator}, {THREADS} thread(s), {CONNECTIONS} connections, "
        f"{DURATION} s; uvicorn {WORKERS} workers (uvloop, httptools); {FIXTURES} fixtures"
    )
    print("peer: bare Starlette + one asyncpg query per request, no auth or cache (same run)")
    print("peer: Starlette answering fixed bytes, the HTTP stack's floor (same run)")
    for run in (ours, bare, floor):
        print(f"{run.name}_requests_per_s {run.requests_per_s:.0f} req/s")
        print(f"{run.name}_p50 {run.p50_ms:.2f} ms")
        print(f"{run.name}_p99 {run.p99_ms:.2f} ms")
        print(f"{run.name}_errors {run.errors} responses")
        print(f"{run.name}_loadavg_1m {run.load_before:.2f}->{run.load_after:.2f}")
    print(f"rest_latest_vs_peer_asyncpg {ours.requests_per_s / bare.requests_per_s:.2f} x")
    print(f"rest_latest_vs_peer_static {ours.requests_per_s / floor.requests_per_s:.2f} x")
    met = ours.requests_per_s >= 8000 and ours.p99_ms < 50 and ours.errors == 0
    print(f"target (>= 8000 req/s, p99 < 50 ms, 0 errors): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
