"""Rebuild requests: how a command asks the process that holds a projection's rows outside
PostgreSQL (the analytics DuckDB file) to rebuild it, and follows it (docs/adr/0035).

A request is ``requested`` until the holder takes it (``building``); it ends ``switched``,
``failed`` (the live rows kept serving), ``refused`` (the holder could not start it: ``detail``
begins with the error code), ``abandoned`` (the holder stopped meanwhile) or ``withdrawn``
(nobody took it in time). The holder refreshes ``updated_at`` while it builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from readmodels.postgres.schemas import PROJECTOR_SCHEMA

TABLE = f"{PROJECTOR_SCHEMA}.rebuild_requests"
OPEN = ("requested", "building")
TAKE_WITHIN_SECONDS = 60.0
"""A request older than this that nobody took is not taken any more (its asker gave up)."""


@dataclass(frozen=True)
class RebuildRequest:
    id: int
    projection: str
    state: str
    requested_at: datetime
    updated_at: datetime
    events: int
    positions: dict[str, int]
    detail: str | None

    @property
    def finished(self) -> bool:
        return self.state not in OPEN


def _request(row: asyncpg.Record) -> RebuildRequest:
    positions = row["positions"]
    if isinstance(positions, str):
        positions = json.loads(positions)
    return RebuildRequest(
        id=int(row["id"]),
        projection=row["projection"],
        state=row["state"],
        requested_at=row["requested_at"],
        updated_at=row["updated_at"],
        events=int(row["events"]),
        positions={str(k): int(v) for k, v in positions.items()},
        detail=row["detail"],
    )


async def ask(conn: asyncpg.Connection, projection: str) -> RebuildRequest:
    row = await conn.fetchrow(
        f"INSERT INTO {TABLE} (projection) VALUES ($1) RETURNING *", projection
    )
    assert row is not None
    return _request(row)


async def read(conn: asyncpg.Connection, request_id: int) -> RebuildRequest:
    row = await conn.fetchrow(f"SELECT * FROM {TABLE} WHERE id = $1", request_id)
    if row is None:
        raise LookupError(f"no rebuild request {request_id}")
    return _request(row)


async def under_way(conn: asyncpg.Connection, projection: str) -> RebuildRequest | None:
    """The request being built, or waiting to be taken, if any."""
    row = await conn.fetchrow(
        f"SELECT * FROM {TABLE} WHERE projection = $1 AND state = ANY($2::text[])"
        f" AND (state = 'building' OR requested_at > now() - make_interval(secs => $3))"
        " ORDER BY id LIMIT 1",
        projection,
        list(OPEN),
        TAKE_WITHIN_SECONDS,
    )
    return None if row is None else _request(row)


async def take(conn: asyncpg.Connection, projection: str) -> RebuildRequest | None:
    """The oldest request not taken yet (and not given up), now ``building``; None if none."""
    row = await conn.fetchrow(
        f"UPDATE {TABLE} SET state = 'building', updated_at = now() WHERE id = ("
        f" SELECT id FROM {TABLE} WHERE projection = $1 AND state = 'requested'"
        "  AND requested_at > now() - make_interval(secs => $2)"
        "  ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
        projection,
        TAKE_WITHIN_SECONDS,
    )
    return None if row is None else _request(row)


async def report(
    conn: asyncpg.Connection,
    request_id: int,
    state: str,
    *,
    events: int = 0,
    positions: dict[str, int] | None = None,
    detail: str | None = None,
) -> None:
    await conn.execute(
        f"UPDATE {TABLE} SET state = $2, events = $3, positions = $4::jsonb, detail = $5,"
        " updated_at = now() WHERE id = $1",
        request_id,
        state,
        events,
        json.dumps(positions or {}),
        None if detail is None else detail[:4000],
    )


async def withdraw(conn: asyncpg.Connection, request_id: int) -> bool:
    """Give up a request nobody took; False if the holder took it meanwhile."""
    done = await conn.fetchval(
        f"UPDATE {TABLE} SET state = 'withdrawn', updated_at = now()"
        " WHERE id = $1 AND state = 'requested' RETURNING id",
        request_id,
    )
    return done is not None


async def abandon_unfinished(conn: asyncpg.Connection, projection: str, why: str) -> None:
    """A holder starting: rebuilds an earlier holder was building cannot finish any more."""
    await conn.execute(
        f"UPDATE {TABLE} SET state = 'abandoned', detail = $2, updated_at = now()"
        " WHERE projection = $1 AND state = 'building'",
        projection,
        why,
    )


async def silent_for(conn: asyncpg.Connection, request_id: int) -> float:
    """Seconds since the holder last reported on the request (PostgreSQL's clock)."""
    value = await conn.fetchval(
        f"SELECT extract(epoch FROM now() - updated_at) FROM {TABLE} WHERE id = $1", request_id
    )
    return float(value or 0.0)
