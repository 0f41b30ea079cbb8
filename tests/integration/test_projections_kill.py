"""Kill test: SIGKILL `sportcast serve projector` at random points while football and its
forecasts are being stored; after restarts, every read-model table equals, row for row, a
rebuild of the same projection from zero."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from infra.projections.logs import StoreEventLog
from projections.catalogue import POSTGRES_PROJECTIONS
from projections.log import EventLog
from projections.rebuild import rebuild
from readmodels.postgres.schemas import live_schema, rebuild_schema
from tests.football_month import DATA, Forecasting, feed_head, small_model, store_football

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
SPORTCAST = str(Path(sys.executable).parent / "sportcast")
FOLLOWED = ["fixtures", "odds", "forecasts", "track_record"]


def _start(env: dict[str, str], forecasts: str, postgres_url: str) -> subprocess.Popen[bytes]:
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": env["NATS_URL"],
        "SPORTCAST_POSTGRES_URL": postgres_url,
        "SPORTCAST_STREAM_NAME": env["NATS_STREAM"],
        "SPORTCAST_FORECASTER_STREAM": forecasts,
        "SPORTCAST_FEED_HEALTH_STREAM": env["NATS_STREAM"] + "_H",
        "SPORTCAST_PROJECTOR_PAGE_EVENTS": "40",  # many commits: kills land between them
    }
    return subprocess.Popen(
        [SPORTCAST, "serve", "projector"],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _positions(postgres_url: str) -> dict[tuple[str, str], int]:
    conn = await asyncpg.connect(postgres_url)
    try:
        out = {}
        for name in FOLLOWED:
            schema = live_schema(name)
            if await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f"{schema}.projection_position"
            ):
                for r in await conn.fetch(
                    f"SELECT stream, position FROM {schema}.projection_position"
                ):
                    out[(name, r["stream"])] = r["position"]
        return out
    finally:
        await conn.close()


def _failures(postgres_url: str) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return [tuple(r) for r in await conn.fetch("SELECT * FROM rm_projector.failures")]
        finally:
            await conn.close()

    return asyncio.run(read())


async def _tables(postgres_url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(postgres_url)
    try:
        names = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1"
            " AND table_name NOT LIKE '%yoyo%' ORDER BY 1",
            schema,
        )
        out = {}
        for r in names:
            table = r["table_name"]
            if table == "projection_position":
                rows = await conn.fetch(f"SELECT stream, position FROM {schema}.{table} ORDER BY 1")
            else:
                rows = await conn.fetch(f"SELECT * FROM {schema}.{table} ORDER BY 1, 2")
            out[table] = [tuple(x) for x in rows]
        return out
    finally:
        await conn.close()


async def _rebuild_all(logs_env: dict[str, dict[str, str]], postgres_url: str) -> None:
    stores = {n: await asyncio.to_thread(StoreEventLog, n, e) for n, e in logs_env.items()}
    logs: dict[str, EventLog] = dict(stores)
    try:
        for name in FOLLOWED:
            await rebuild(POSTGRES_PROJECTIONS[name], logs, postgres_url, switch=False)
    finally:
        for store in stores.values():
            await asyncio.to_thread(store.close)


async def _kill_at(projector: subprocess.Popen[bytes], postgres_url: str, target: int) -> None:
    """SIGKILL ``projector`` as soon as the odds projection has committed ``target``: a point
    chosen by position, so the kill lands mid-way on a fast idle box and a loaded one alike."""
    conn = await asyncpg.connect(postgres_url)
    try:
        deadline = time.monotonic() + 90
        query = f"SELECT position FROM {live_schema('odds')}.projection_position WHERE stream = $1"
        while True:
            assert projector.poll() is None, projector.stderr.read() if projector.stderr else b""
            assert time.monotonic() < deadline, "the projector made no progress"
            with contextlib.suppress(asyncpg.UndefinedTableError):  # not migrated yet
                if (await conn.fetchval(query, "events") or 0) >= target:
                    return
            await asyncio.sleep(0.005)
    finally:
        projector.send_signal(signal.SIGKILL)  # here, or when an assertion above fails
        projector.wait(10)
        await conn.close()


def test_killed_projector_ends_with_the_rows_of_a_rebuild_from_zero(
    nats_url: str, unique_name: str, postgres_url: str
) -> None:
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": unique_name,
    }
    forecasts = unique_name + "_F"
    store_football(env, date(2016, 3, 1), date(2016, 3, 17))
    forecaster = Forecasting(env, forecasts, small_model())
    forecaster.start()  # forecasts are appended while the projector runs and is killed
    # Each round stores more of the month, then starts the projector and kills it once the
    # odds projection has committed a random share (10-60%) of the work it was given: at least
    # 40% of that work is left, however fast the machine.
    more = [None, (date(2016, 3, 18), date(2016, 3, 19)), (date(2016, 3, 20), date(2016, 3, 31))]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills: list[tuple[int, dict[tuple[str, str], int]]] = []
    try:
        for days in more:
            if days is not None:
                store_football(env, *days)
            head = feed_head(env)
            done = asyncio.run(_positions(postgres_url)).get(("odds", "events"), 0)
            target = done + max(1, round(rng.uniform(0.1, 0.6) * (head - done)))
            asyncio.run(_kill_at(_start(env, forecasts, postgres_url), postgres_url, target))
            kills.append((head, asyncio.run(_positions(postgres_url))))
        forecaster.catch_up()
    finally:
        forecaster.stop()

    heads = {"events": feed_head(env), "forecasts": feed_head({**env, "NATS_STREAM": forecasts})}
    assert heads["forecasts"] > 100, heads
    # Killed mid-way: each kill left part of the work its round was given.
    assert all(k[("odds", "events")] < head for head, k in kills), (seed, kills)

    last = _start(env, forecasts, postgres_url)
    try:
        deadline = time.monotonic() + 120
        while True:
            reached = asyncio.run(_positions(postgres_url))
            if all(
                reached.get((n, s), 0) >= heads[s]
                for n in FOLLOWED
                for s in POSTGRES_PROJECTIONS[n].topics
            ):
                break
            assert last.poll() is None, last.stderr.read() if last.stderr else b""
            assert time.monotonic() < deadline, (seed, reached, heads)
            time.sleep(0.2)
    finally:
        last.send_signal(signal.SIGINT)
        last.wait(30)

    logs_env = {"events": env, "forecasts": {**env, "NATS_STREAM": forecasts}}
    asyncio.run(_rebuild_all(logs_env, postgres_url))
    for name in FOLLOWED:
        restarted = asyncio.run(_tables(postgres_url, live_schema(name)))
        from_zero = asyncio.run(_tables(postgres_url, rebuild_schema(name)))
        assert restarted.keys() == from_zero.keys()
        for table in restarted:
            assert restarted[table] == from_zero[table], (seed, name, table)
        assert sum(len(rows) for rows in restarted.values()) > 10
