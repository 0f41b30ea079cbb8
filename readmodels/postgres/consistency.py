"""Read-your-writes: wait (bounded) until the projections have applied given positions.

An ingest answer carries the notification ids it stored; a caller that passes them here reads
its own writes afterwards. Each projection commit sends NOTIFY on ``positions.CHANNEL``, so a
waiter wakes as soon as a commit lands instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence

import asyncpg

from readmodels.postgres.positions import CHANNEL
from readmodels.postgres.schemas import PREFIX, REBUILD_SUFFIX, RETIRED_SUFFIX, live_schema, quoted


async def live_position_tables(conn: asyncpg.Connection) -> list[str]:
    """The schemas serving reads now that hold a position table."""
    rows = await conn.fetch(
        "SELECT table_schema FROM information_schema.tables"
        " WHERE table_name = 'projection_position' AND table_schema LIKE $1",
        PREFIX.replace("_", r"\_") + "%",
    )
    return sorted(
        r["table_schema"]
        for r in rows
        if not r["table_schema"].endswith((REBUILD_SUFFIX, RETIRED_SUFFIX))
    )


async def lowest_positions(
    conn: asyncpg.Connection, streams: Sequence[str], projections: Sequence[str] | None = None
) -> dict[str, int]:
    """Per stream, the least position of the live projections that follow it (those named, or
    every one with a position in it). A named projection with no position yet counts as 0."""
    schemas = (
        [live_schema(p) for p in projections]
        if projections is not None
        else await live_position_tables(conn)
    )
    lowest: dict[str, int] = {}
    for schema in schemas:
        if not await conn.fetchval(
            "SELECT to_regclass($1) IS NOT NULL", f"{quoted(schema)}.projection_position"
        ):
            if projections is not None:
                return dict.fromkeys(streams, 0)
            continue
        rows = await conn.fetch(
            f"SELECT stream, position FROM {quoted(schema)}.projection_position"
            " WHERE stream = ANY($1::text[])",
            list(streams),
        )
        for r in rows:
            stream, position = r["stream"], int(r["position"])
            lowest[stream] = min(lowest.get(stream, position), position)
    return lowest


async def wait_for_positions(
    pool: asyncpg.Pool,
    targets: Mapping[str, int],
    *,
    within: float,
    projections: Sequence[str] | None = None,
) -> bool:
    """True once every stream in ``targets`` is applied at least up to its position by the
    live projections (see ``lowest_positions``); False if ``within`` seconds pass first."""
    deadline = time.monotonic() + within
    woken = asyncio.Event()

    def on_notify(*_: object) -> None:
        woken.set()

    async with pool.acquire() as conn:
        await conn.add_listener(CHANNEL, on_notify)
        try:
            while True:
                woken.clear()
                reached = await lowest_positions(conn, list(targets), projections)
                if all(reached.get(s, 0) >= p for s, p in targets.items()):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(left, 0.5))
        finally:
            await conn.remove_listener(CHANNEL, on_notify)
