"""Feed health and the quarantine: staleness per source and competition, stale episodes, and
refused payloads counted by reason (rm_feed_health, rm_quarantine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from readmodels.postgres.queries._base import Queryable, rows_as, where


@dataclass(frozen=True)
class FeedPulseRow:
    source: str
    competition: str
    last_quote_at: datetime
    seconds_since: float
    """Negative when the quote is stamped after ``now`` (a source's clock skew)."""


@dataclass(frozen=True)
class StaleEpisodeRow:
    position: int
    fixture_id: UUID
    competition: str
    kickoff: datetime
    last_quote_at: datetime | None
    checked_at: datetime
    stale_after_seconds: float


@dataclass(frozen=True)
class QuarantineCount:
    reason_code: str
    source: str
    held: int


async def feed_pulses(db: Queryable, now: datetime) -> list[FeedPulseRow]:
    """Time since the last quote per source and competition at ``now``, stalest first."""
    records = await db.fetch(
        "SELECT source, competition, last_quote_at,"
        " extract(epoch FROM ($1::timestamptz - last_quote_at))::float8 AS seconds_since"
        " FROM rm_feed_health.pulses ORDER BY seconds_since DESC, competition, source",
        now,
    )
    return rows_as(FeedPulseRow, records)


async def stale_episodes(
    db: Queryable, *, competition: str | None = None, limit: int = 100
) -> list[StaleEpisodeRow]:
    """The newest episodes of a fixture close to kick-off going without odds."""
    clause, args = where([("competition = {}", competition)])
    args.append(limit)
    records = await db.fetch(
        "SELECT position, fixture_id, competition, kickoff, last_quote_at, checked_at,"
        f" stale_after_seconds FROM rm_feed_health.stale_episodes{clause}"
        f" ORDER BY position DESC LIMIT ${len(args)}",
        *args,
    )
    return rows_as(StaleEpisodeRow, records)


async def quarantine_counts(db: Queryable) -> list[QuarantineCount]:
    """Refused feed payloads held, counted by reason code and source, most first."""
    records = await db.fetch(
        "SELECT reason_code, source, count(*)::int AS held FROM rm_quarantine.held"
        " GROUP BY 1, 2 ORDER BY held DESC, reason_code, source"
    )
    return rows_as(QuarantineCount, records)
