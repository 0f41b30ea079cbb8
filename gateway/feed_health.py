"""GET /feeds/health: per source and competition, the time since the last odds update, from
the feed-health process's own table (every competition: admins only; readers use
/v1/feed-health, which their plan cuts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from domain.feed_health import FeedPulse
from gateway.deps import Admin
from gateway.problems import ServiceUnavailable

router = APIRouter(prefix="/feeds", tags=["feeds"])


class FeedHealthReader(Protocol):
    """Where the feed-health table comes from; the composition root supplies it."""

    async def pulses(self, now: datetime) -> Sequence[FeedPulse]:
        """Rows as of ``now``, stalest first; raises ConnectionError when not available."""
        ...


class FeedPulsePublic(BaseModel):
    source: str
    competition: str
    last_quote_at: datetime
    seconds_since: float


class FeedHealthPublic(BaseModel):
    checked_at: datetime
    feeds: list[FeedPulsePublic]


def _reader(request: Request) -> FeedHealthReader:
    reader: FeedHealthReader | None = getattr(request.app.state, "feed_health", None)
    if reader is None:
        raise ServiceUnavailable("feed health is not running", service="feed-health")
    return reader


ReaderDep = Annotated[FeedHealthReader, Depends(_reader)]


@router.get("/health", response_model=FeedHealthPublic)
async def feed_health(_: Admin, reader: ReaderDep) -> FeedHealthPublic:
    now = datetime.now(UTC)
    try:
        rows = await reader.pulses(now)
    except (ConnectionError, OSError) as exc:
        raise ServiceUnavailable(
            f"feed health is not available: {exc!r}", service="feed-health"
        ) from exc
    return FeedHealthPublic(
        checked_at=now,
        feeds=[
            FeedPulsePublic(
                source=r.source,
                competition=r.competition,
                last_quote_at=r.last_quote_at,
                seconds_since=r.seconds_since,
            )
            for r in rows
        ],
    )
