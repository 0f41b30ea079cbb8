"""Fixtures: a filtered, paged listing, and one fixture with its latest odds and forecasts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from domain.sport import Sport
from domain.status import FixtureStatus
from gateway.api.entitlement import visibility, visible_fixture
from gateway.api.pagination import CursorParam, LimitParam, Page, encode_cursor, read_cursor
from gateway.api.public import (
    FixturePublic,
    ForecastPublic,
    OddsPublic,
    fixture_public,
    forecast_public,
    latest_odds_public,
)
from gateway.deps import Reader, ReadModelsDep
from readmodels.postgres.api_queries import FixtureFilter

router = APIRouter(prefix="/v1/fixtures", tags=["fixtures"])


class FixtureDetailPublic(BaseModel):
    fixture: FixturePublic
    odds: list[OddsPublic]
    """The latest quote of each (market, source)."""
    forecasts: list[ForecastPublic]
    """The latest forecast of each model kind."""


@router.get("", response_model=Page[FixturePublic])
async def list_fixtures(
    principal: Reader,
    reads: ReadModelsDep,
    sport: Sport | None = None,
    competition: str | None = None,
    status: FixtureStatus | None = None,
    on: Annotated[date | None, Query(description="Kick-off on this day (UTC).")] = None,
    kickoff_from: Annotated[datetime | None, Query(description="Kick-off at or after.")] = None,
    kickoff_to: Annotated[datetime | None, Query(description="Kick-off before.")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> Page[FixturePublic]:
    """Fixtures the caller's plan covers, by kick-off, filtered."""
    if on is not None:
        kickoff_from = datetime.combine(on, time(), tzinfo=UTC)
        kickoff_to = kickoff_from + timedelta(days=1)
    after = read_cursor(
        cursor, "fixtures", lambda kickoff, id_: (datetime.fromisoformat(kickoff), UUID(id_))
    )
    where = FixtureFilter(
        sport=sport.value if sport else None,
        competition=competition,
        status=status.value if status else None,
        kickoff_from=kickoff_from,
        kickoff_to=kickoff_to,
    )
    rows = await reads.fixtures(visibility(principal), where, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor("fixtures", rows[-1].kickoff.isoformat(), str(rows[-1].fixture_id))
        if more
        else None
    )
    return Page[FixturePublic](items=[fixture_public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{fixture_id}", response_model=FixtureDetailPublic)
async def get_fixture(
    fixture_id: UUID, principal: Reader, reads: ReadModelsDep
) -> FixtureDetailPublic:
    """One fixture with the latest quote of each book and the latest forecast of each model."""
    row = await visible_fixture(reads, principal, fixture_id)
    return FixtureDetailPublic(
        fixture=fixture_public(row),
        odds=[latest_odds_public(o) for o in await reads.latest_odds(fixture_id)],
        forecasts=[forecast_public(f) for f in await reads.latest_forecasts(fixture_id)],
    )
