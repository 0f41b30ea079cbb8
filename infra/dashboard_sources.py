"""The dashboard's two PostgreSQL sources (gateway/dashboard/ports.py): fixtures' names and
status from the fixtures read model, quarantine counts from the quarantine read model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from readmodels.dashboard_ports import FixtureSummary, QuarantineCount


@dataclass(frozen=True)
class PostgresFixtureDirectory:
    pool: asyncpg.Pool

    async def fixtures(self, ids: Sequence[str]) -> list[FixtureSummary]:
        wanted = []
        for fixture_id in ids:
            try:
                wanted.append(UUID(fixture_id))
            except ValueError:
                continue  # not an id: nothing to find
        rows = await _fetch(
            self.pool,
            "SELECT fixture_id, sport, competition, home, away, kickoff, status"
            " FROM rm_fixtures.fixtures WHERE fixture_id = ANY($1::uuid[])",
            wanted,
        )
        return [
            FixtureSummary(
                fixture_id=str(r["fixture_id"]),
                sport=r["sport"],
                competition=r["competition"],
                home=r["home"],
                away=r["away"],
                kickoff_ms=int(r["kickoff"].timestamp() * 1000) if r["kickoff"] else None,
                status=r["status"],
            )
            for r in rows
        ]


@dataclass(frozen=True)
class PostgresQuarantineCounts:
    pool: asyncpg.Pool

    async def counts(self) -> list[QuarantineCount]:
        rows = await _fetch(
            self.pool,
            "SELECT reason_code, count(*)::int AS held FROM rm_quarantine.held GROUP BY 1",
        )
        return [QuarantineCount(r["reason_code"], r["held"]) for r in rows]


async def _fetch(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    try:
        return list(await pool.fetch(sql, *args))
    except asyncpg.UndefinedTableError as error:
        raise ConnectionError(f"the read model is not built yet ({error})") from None
    except (OSError, asyncpg.PostgresConnectionError) as error:
        raise ConnectionError(f"PostgreSQL is unreachable ({error})") from None
