"""Odds: the latest quote per (fixture, market, source), and every quote (rm_odds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from readmodels.postgres.queries._base import Queryable, rows_as, where


@dataclass(frozen=True)
class LatestOddsRow:
    book_id: UUID
    fixture_id: UUID
    market: str
    source: str
    quoted_at: datetime | None
    """None until the book's first quote."""
    stage: str | None
    price_format: str | None
    raw_prices: list[str] | None
    decimal_prices: list[float] | None
    overround: float | None
    margin_method: str | None
    probabilities: list[float] | None
    """Margin-free, by ``margin_method``."""
    quotes: int
    position: int


@dataclass(frozen=True)
class OddsQuoteRow:
    position: int
    book_id: UUID
    fixture_id: UUID
    quoted_at: datetime
    stage: str | None
    price_format: str
    raw_prices: list[str]
    decimal_prices: list[float]
    overround: float
    margin_method: str
    probabilities: list[float]


async def latest_odds(
    db: Queryable, fixture_id: UUID, *, market: str | None = None
) -> list[LatestOddsRow]:
    clause, args = where([("fixture_id = {}", fixture_id), ("market = {}", market)])
    records = await db.fetch(
        "SELECT book_id, fixture_id, market, source, quoted_at, stage, price_format, raw_prices,"
        " decimal_prices, overround, margin_method, probabilities, quotes, position"
        f" FROM rm_odds.odds_latest{clause} ORDER BY market, source",
        *args,
    )
    return rows_as(LatestOddsRow, records)


async def odds_history(
    db: Queryable,
    fixture_id: UUID,
    *,
    market: str | None = None,
    source: str | None = None,
    after_position: int = 0,
    limit: int = 1000,
) -> list[OddsQuoteRow]:
    """The fixture's quotes in log order (``after_position`` pages on)."""
    clause, args = where(
        [
            ("h.fixture_id = {}", fixture_id),
            ("b.market = {}", market),
            ("b.source = {}", source),
            ("h.position > {}", after_position),
        ]
    )
    args.append(limit)
    records = await db.fetch(
        "SELECT h.position, h.book_id, h.fixture_id, h.quoted_at, h.stage, h.price_format,"
        " h.raw_prices, h.decimal_prices, h.overround, h.margin_method, h.probabilities"
        " FROM rm_odds.odds_history h JOIN rm_odds.odds_latest b USING (book_id)"
        f"{clause} ORDER BY h.position LIMIT ${len(args)}",
        *args,
    )
    return rows_as(OddsQuoteRow, records)
