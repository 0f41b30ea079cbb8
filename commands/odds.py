"""Recording a quote: the command and its handler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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

    @property
    def odds_book_id(self) -> UUID:
        return odds_book_id(self.fixture_id, self.source, self.market)


def record_odds(cmd: RecordOdds, book: OddsBook | None, fixture: Fixture | None) -> OddsBook:
    """Needs the fixture (read only) because odds stop once its result is in."""
    found = existing(fixture, cmd.fixture_id)
    quote = OddsQuote.from_raw(cmd.market, cmd.prices, cmd.price_format, cmd.margin_method)
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
