"""GET /v1/feed-health: per source and competition the caller's plan covers, the time since the
last quote, stalest first; admins also see the quarantine's counts by reason."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel

from domain.access import Scope
from gateway.api.entitlement import visibility
from gateway.deps import Reader, ReadModelsDep

router = APIRouter(prefix="/v1", tags=["feeds"])


class PulsePublic(BaseModel):
    source: str
    competition: str
    last_quote_at: datetime
    seconds_since: float


class FeedHealthV1Public(BaseModel):
    checked_at: datetime
    feeds: list[PulsePublic]
    quarantined: dict[str, int] | None
    """Refused payloads held, by reason code (admin only)."""


@router.get("/feed-health", response_model=FeedHealthV1Public)
async def feed_health(principal: Reader, reads: ReadModelsDep) -> FeedHealthV1Public:
    now = datetime.now(UTC)
    pulses = await reads.pulses(visibility(principal), now)
    return FeedHealthV1Public(
        checked_at=now,
        feeds=[
            PulsePublic(
                source=p.source,
                competition=p.competition,
                last_quote_at=p.last_quote_at,
                seconds_since=p.seconds_since,
            )
            for p in pulses
        ],
        quarantined=await reads.quarantine_counts() if principal.has(Scope.ADMIN) else None,
    )
