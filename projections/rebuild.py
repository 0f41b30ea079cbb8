"""`sportcast projections rebuild NAME`: build a projection from zero into a fresh schema while
the live one keeps serving, then switch it in atomically (readmodels/postgres/switch.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from projections.log import EventLog
from projections.postgres import PostgresProjection
from projections.runner import ProjectionRunner
from readmodels.postgres.schemas import rebuild_schema
from readmodels.postgres.switch import drop_schema, switch_in

SWITCH_ATTEMPTS = 10


class RebuildFailed(Exception):
    code = "rebuild-failed"


@dataclass(frozen=True)
class Rebuilt:
    projection: str
    positions: dict[str, int]
    events: int
    seconds: float


async def rebuild(
    kind: type[PostgresProjection],
    logs: Mapping[str, EventLog],
    postgres_url: str,
    *,
    page_size: int = 5000,
    within: float = 24 * 3600.0,
    switch: bool = True,
) -> Rebuilt:
    name = kind.name
    schema = rebuild_schema(name)
    started = time.monotonic()
    conn = await asyncpg.connect(postgres_url)
    try:
        await drop_schema(conn, schema)  # a rebuild interrupted earlier starts over
        events = 0
        for _ in range(SWITCH_ATTEMPTS):
            projection = kind(postgres_url, schema=schema)
            runner = ProjectionRunner([projection], logs, page_size=page_size)
            async with runner:
                caught_up = await runner.caught_up(within)
                status = runner.statuses[name]
                events += status.events_applied
                if status.error is not None:
                    raise RebuildFailed(
                        f"{name} failed after {status.failed_stream} {status.failed_position}:"
                        f" {status.error}"
                    )
                if not caught_up:
                    raise RebuildFailed(f"{name} did not catch up within {within:g} s")
            if not switch:
                return Rebuilt(name, {}, events, time.monotonic() - started)
            positions = await switch_in(conn, name)
            if positions is not None:
                return Rebuilt(name, positions, events, time.monotonic() - started)
            await asyncio.sleep(0)  # the live one moved on meanwhile: catch up again
        raise RebuildFailed(f"{name} kept falling behind the live projection; try again")
    finally:
        await conn.close()
