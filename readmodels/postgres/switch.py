"""Switching a rebuilt schema in: one transaction renames the live schema away and the rebuilt
one into its place, so readers see the old rows or the new, never a mix.

The switch holds the projection's advisory lock exclusively, which waits for the live
projection's batch in flight (each batch holds it shared) and keeps the next one out until the
rename commits; the live projection then continues from the rebuilt schema's position.
"""

from __future__ import annotations

import asyncpg

from readmodels.postgres.positions import projection_lock_key, read_positions
from readmodels.postgres.schemas import (
    RETIRED_SUFFIX,
    live_schema,
    quoted,
    rebuild_schema,
)


async def schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema)
    )


async def drop_schema(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")


async def switch_in(conn: asyncpg.Connection, projection: str) -> dict[str, int] | None:
    """Make the rebuilt schema live if it is at least as far as the live one in every stream;
    its positions if switched, None if it is still behind (catch it up and call again)."""
    live, rebuilt = live_schema(projection), rebuild_schema(projection)
    retired = live + RETIRED_SUFFIX
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", projection_lock_key(projection))
        new = {p.stream: p.position for p in await read_positions(conn, rebuilt)}
        old = {p.stream: p.position for p in await read_positions(conn, live)}
        if any(new.get(stream, 0) < position for stream, position in old.items()):
            return None
        await drop_schema(conn, retired)
        if await schema_exists(conn, live):
            await conn.execute(f"ALTER SCHEMA {quoted(live)} RENAME TO {quoted(retired)}")
        await conn.execute(f"ALTER SCHEMA {quoted(rebuilt)} RENAME TO {quoted(live)}")
    await drop_schema(conn, retired)
    return new
