"""Fixtures: one row each, with status, live score, minute and period (rm_fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from readmodels.postgres.queries._base import Queryable, rows_as, where

_COLUMNS = (
    "fixture_id, sport, competition, season, home, away, kickoff, venue, venue_country, status,"
    " started_at, home_score, away_score, minute, stoppage, period, result_home, result_away,"
    " called_off_reason, corrections, position"
)


@dataclass(frozen=True)
class FixtureRow:
    fixture_id: UUID
    sport: str
    competition: str
    season: str
    home: str
    away: str
    kickoff: datetime
    venue: str | None
    venue_country: str | None
    status: str
    started_at: datetime | None
    home_score: int
    away_score: int
    minute: int | None
    stoppage: int | None
    period: int | None
    result_home: int | None
    result_away: int | None
    called_off_reason: str | None
    corrections: int
    position: int
    """The notification id of the last event applied to this row."""


async def get_fixture(db: Queryable, fixture_id: UUID) -> FixtureRow | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM rm_fixtures.fixtures WHERE fixture_id = $1", fixture_id
    )
    return None if row is None else FixtureRow(**dict(row))


async def list_fixtures(
    db: Queryable,
    *,
    sport: str | None = None,
    competition: str | None = None,
    season: str | None = None,
    status: str | None = None,
    kickoff_from: datetime | None = None,
    kickoff_to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FixtureRow]:
    """Fixtures by kick-off (then id), filtered by whichever arguments are given."""
    clause, args = where(
        [
            ("sport = {}", sport),
            ("competition = {}", competition),
            ("season = {}", season),
            ("status = {}", status),
            ("kickoff >= {}", kickoff_from),
            ("kickoff < {}", kickoff_to),
        ]
    )
    args += [limit, offset]
    records = await db.fetch(
        f"SELECT {_COLUMNS} FROM rm_fixtures.fixtures{clause}"
        f" ORDER BY kickoff, fixture_id LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    return rows_as(FixtureRow, records)
