"""Recording a quote: the command and its handler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from uuid import UUID

from commands.base import Command
from commands.fixture_handlers import existing
from domain.fixture import Fixture
from domain.odds import MarginMethod, Market, OddsQuote, Outcome, PriceFormat, QuoteStage
from domain.odds_book import OddsBook, odds_book_id


@dataclass(frozen=True, kw_only=True)
class RecordOdds(Command):
    fixture_id: UUID
    source: str
    """Who quoted the prices (a bookmaker, an exchange, a market average)."""
    market: Market
    prices: Mapping[Outcome, str]
    """Raw prices exactly as received, by outcome."""
    price_format: PriceFormat
    margin_method: MarginMethod
    quoted_at: datetime
    stage: QuoteStage | None = None

    @cached_property
    def odds_book_id(self) -> UUID:  # a uuid5: worth computing once per command
        return odds_book_id(self.fixture_id, self.source, self.market)


def record_odds(cmd: RecordOdds, book: OddsBook | None, fixture: Fixture | None) -> OddsBook:
    """Needs the fixture (read only) because odds stop once its result is in."""
    found = existing(fixture, cmd.fixture_id)
    quote = _quote(cmd.market, tuple(cmd.prices.items()), cmd.price_format, cmd.margin_method)
    if book is None:
        book = OddsBook.open(
            fixture=found, source=cmd.source, market=cmd.market, provenance=cmd.provenance
        )
    elif book.id != cmd.odds_book_id:
        raise ValueError(f"command for odds book {cmd.odds_book_id} was given book {book.id}")
    book.quote(
        quote=quote,
        fixture=found,
        stage=cmd.stage,
        quoted_at=cmd.quoted_at,
        provenance=cmd.provenance,
    )
    return book


@lru_cache(maxsize=1 << 16)
def _quote(
    market: Market,
    prices: tuple[tuple[Outcome, str], ...],
    price_format: PriceFormat,
    margin_method: MarginMethod,
) -> OddsQuote:
    """``OddsQuote.from_raw``, remembered: it is a pure function of these (the quote is
    immutable), exact fractions and margin removal cost a tenth of a replay's CPU, and prices
    repeat (over/under and both-teams-to-score books: nine quotes in ten seen before)."""
    return OddsQuote.from_raw(market, dict(prices), price_format, margin_method)
