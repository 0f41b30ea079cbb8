"""A fixture's odds history: every quote, in log order, paged."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from gateway.api.entitlement import visible_fixture
from gateway.api.pagination import CursorParam, LimitParam, Page, encode_cursor, read_cursor
from gateway.api.public import OddsPublic, quote_public
from gateway.deps import Reader, ReadModelsDep

router = APIRouter(prefix="/v1/fixtures", tags=["odds"])


@router.get("/{fixture_id}/odds", response_model=Page[OddsPublic])
async def odds_history(
    fixture_id: UUID,
    principal: Reader,
    reads: ReadModelsDep,
    market: str | None = None,
    source: str | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> Page[OddsPublic]:
    """Every quote of the fixture (optionally one market or source), oldest first."""
    await visible_fixture(reads, principal, fixture_id)
    after = read_cursor(cursor, "odds", int)
    rows = await reads.odds_history(
        fixture_id, market=market, source=source, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[OddsPublic](
        items=[quote_public(r) for r in rows],
        next_cursor=encode_cursor("odds", rows[-1].quote.position) if more else None,
    )
