"""Read-your-writes: wait (bounded) until the projections have applied given positions.

An ingest answer carries the notification ids it stored; a caller that passes them here reads
its own writes afterwards. Each projection commit sends NOTIFY on ``positions.CHANNEL``, so a
waiter wakes as soon as a commit lands instead of polling; the process's listening connection
(``infra.notices``) wakes every waiter again when it comes back after a loss (docs/adr/0038).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence

import asyncpg

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


CHECK_FAILED = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""A check that could not read the positions (the server away): not reached yet."""
CHECK_WITHIN = 5.0
"""Seconds one check may take (a silent server): then it counts as not reached."""


class PositionWaits:
    """Read-your-writes waits of one process, woken by the commit notices it hears on its one
    LISTEN connection (``infra.notices``: ``on_commit`` for each notice on ``CHANNEL``,
    ``resync`` once that connection is back after a loss). A wait holds no connection between
    its checks, and a check that fails (the server away) counts as not reached: the next notice
    or the resync checks again, so a commit made while nobody could hear it is still seen."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: set[asyncio.Event] = set()
        self.waiting = 0
        """How many waits are between checks now, waiting to be woken."""

    def on_commit(self, _payload: str) -> None:
        for woken in self._pending:
            woken.set()

    def resync(self) -> None:
        """Notices may have been missed: every wait checks the committed positions again."""
        self.on_commit("")

    async def wait_for(
        self,
        targets: Mapping[str, int],
        *,
        within: float,
        projections: Sequence[str] | None = None,
    ) -> bool:
        """True once every stream in ``targets`` is applied at least up to its position by the
        live projections (see ``lowest_positions``); False if ``within`` seconds pass first."""
        deadline = time.monotonic() + within
        woken = asyncio.Event()
        self._pending.add(woken)
        try:
            while True:
                woken.clear()  # before the check: a commit during it wakes the next one
                if await self._reached(targets, projections):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.waiting += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), left)
                finally:
                    self.waiting -= 1
        finally:
            self._pending.discard(woken)

    async def _reached(self, targets: Mapping[str, int], projections: Sequence[str] | None) -> bool:
        try:
            async with asyncio.timeout(CHECK_WITHIN), self._pool.acquire() as conn:
                reached = await lowest_positions(conn, list(targets), projections)
        except (*CHECK_FAILED, TimeoutError):
            return False
        return all(reached.get(s, 0) >= p for s, p in targets.items())
