"""Run projections over real event-store streams into a real PostgreSQL, until caught up."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from infra.projections.logs import StoreEventLog
from projections.catalogue import postgres_projections
from projections.log import EventLog
from projections.runner import ProjectionRunner
from readmodels.postgres.schemas import live_schema


def project(
    envs: Mapping[str, Mapping[str, str]],
    postgres_url: str,
    names: Sequence[str],
    *,
    page_size: int = 1000,
    within: float = 120.0,
) -> list[dict[str, object]]:
    """Run the named projections over the streams in ``envs`` until they reach the heads."""

    async def main() -> list[dict[str, object]]:
        logs: dict[str, EventLog] = {}
        stores = []
        for name, env in envs.items():
            store = await asyncio.to_thread(StoreEventLog, name, env)
            stores.append(store)
            logs[name] = store
        try:
            runner = ProjectionRunner(
                postgres_projections(postgres_url, list(names)), logs, page_size=page_size
            )
            async with runner:
                assert await runner.caught_up(within), runner.status()
                return runner.status()
        finally:
            for store in stores:
                await asyncio.to_thread(store.close)

    return asyncio.run(main())


def table(postgres_url: str, projection: str, name: str, order: str) -> list[dict[str, Any]]:
    """Every row of a read-model table, in ``order``."""

    async def main() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch(
                f"SELECT * FROM {live_schema(projection)}.{name} ORDER BY {order}"
            )
            return [dict(r) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(main())


async def _dump_schema(conn: asyncpg.Connection, schema: str) -> dict[str, list[str]]:
    """Every row of every read-model table in ``schema``, as text, in a fixed order (the
    position table and yoyo's bookkeeping aside)."""
    tables = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1"
        " AND table_name <> 'projection_position' AND table_name NOT LIKE '%yoyo%'",
        schema,
    )
    out = {}
    for t in sorted(r["table_name"] for r in tables):
        rows = await conn.fetch(f'SELECT r::text AS row FROM "{schema}"."{t}" r ORDER BY 1')
        out[t] = [r["row"] for r in rows]
    return out


def dump(postgres_url: str, schemas: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    async def main() -> dict[str, dict[str, list[str]]]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return {p: await _dump_schema(conn, s) for p, s in schemas.items()}
        finally:
            await conn.close()

    return asyncio.run(main())


def place_fixtures_at(postgres_url: str, position: int) -> None:
    """The live fixtures read model, made, with its events position put at ``position`` (as if
    it had applied the log up to there; its rows are left as they are)."""
    from projections.fixtures import FixturesProjection
    from readmodels.postgres.schemas import quoted

    FixturesProjection(postgres_url).migrate()

    async def main() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(
                f"INSERT INTO {quoted(live_schema('fixtures'))}.projection_position"
                " (stream, position) VALUES ('events', $1)",
                position,
            )
        finally:
            await conn.close()

    asyncio.run(main())
