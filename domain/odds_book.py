"""The OddsBook aggregate: every quote one source gives for one market of one fixture.

Odds live in their own aggregate, not on the Fixture (see docs/adr/0006-domain-model.md): live
feeds send many quotes a minute, and they must not contend with, or bloat, the fixture's stream.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidQuote, MarketNotForSport, OddsAfterResult, OddsBookMismatch
from domain.fixture import Fixture
from domain.fixture_id import canonical_name, name_based_id
from domain.odds.margin import MarginMethod
from domain.odds.market import Market
from domain.odds.price import PriceFormat
from domain.odds.quote import OddsQuote, QuoteStage
from domain.plausible_time import check_plausible
from domain.provenance import Provenance

# Fixed forever: changing it changes every id and orphans every stream.
ODDS_BOOK_NAMESPACE = UUID("b7b862b7-05dd-570a-9a14-61edc734fd4d")


@lru_cache(maxsize=1 << 14)
def odds_book_id(fixture_id: UUID, source: str, market: Market) -> UUID:
    """Asked for once per quote, and a book has several."""
    return name_based_id(ODDS_BOOK_NAMESPACE, f"{fixture_id}|{canonical_name(source)}|{market}")


class OddsBook(Aggregate):
    class Event(Aggregate.Event):
        provenance: Provenance

    class Opened(Event, Aggregate.Created):
        fixture_id: UUID
        source: str
        market: Market

    class OddsQuoted(Event):
        """Carries the raw prices and the method, so the quote can be recomputed from this alone."""

        stage: QuoteStage | None
        quoted_at: datetime
        price_format: PriceFormat
        raw_prices: tuple[str, ...]
        decimal_prices: tuple[float, ...]
        overround: float
        margin_method: MarginMethod
        probabilities: tuple[float, ...]

    @staticmethod
    def create_id(fixture_id: UUID, source: str, market: Market) -> UUID:
        return odds_book_id(fixture_id, source, market)

    @classmethod
    def open(
        cls, *, fixture: Fixture, source: str, market: Market, provenance: Provenance
    ) -> OddsBook:
        if fixture.sport not in market.sports:
            raise MarketNotForSport(f"market {market} is not offered on {fixture.sport}")
        _check_no_result(fixture)
        # What ``cls(...)`` does, without the decorator's argument matching (books are opened
        # by the thousand in a replay): the same Opened event, applied by ``__init__``.
        return cls._create(
            cls.Opened, fixture_id=fixture.id, source=source, market=market, provenance=provenance
        )

    @event(Opened)
    def __init__(
        self, fixture_id: UUID, source: str, market: Market, provenance: Provenance
    ) -> None:
        self.fixture_id = fixture_id
        self.source = source
        self.market = market
        self.latest: OddsQuote | None = None
        self.opening: OddsQuote | None = None
        self.closing: OddsQuote | None = None
        self.quote_count = 0

    def quote(
        self,
        *,
        quote: OddsQuote,
        fixture: Fixture,
        stage: QuoteStage | None,
        quoted_at: datetime,
        provenance: Provenance,
    ) -> None:
        if fixture.id != self.fixture_id:
            raise OddsBookMismatch(
                f"this book is for fixture {self.fixture_id}, not fixture {fixture.id}"
            )
        if quote.market != self.market:
            raise OddsBookMismatch(f"this book is for market {self.market}, not {quote.market}")
        if quoted_at.tzinfo is None or quoted_at.utcoffset() is None:
            raise InvalidQuote(f"quoted_at must be timezone-aware, got {quoted_at.isoformat()}")
        check_plausible(quoted_at, "quoted_at", provenance.received_at)
        _check_no_result(fixture)
        # What ``self._odds_quoted(...)`` does, without the decorator's argument matching (the
        # most frequent event of all): the same OddsQuoted event, applied by ``_odds_quoted``.
        self.trigger_event(
            self.OddsQuoted,
            stage=stage,
            quoted_at=quoted_at,
            price_format=quote.price_format,
            raw_prices=quote.raw_prices,
            decimal_prices=quote.decimal_prices,
            overround=quote.overround,
            margin_method=quote.margin_method,
            probabilities=quote.probabilities,
            provenance=provenance,
        )

    @event(OddsQuoted)
    def _odds_quoted(
        self,
        stage: QuoteStage | None,
        quoted_at: datetime,
        price_format: PriceFormat,
        raw_prices: tuple[str, ...],
        decimal_prices: tuple[float, ...],
        overround: float,
        margin_method: MarginMethod,
        probabilities: tuple[float, ...],
        provenance: Provenance,
    ) -> None:
        # tuple(): a JSON round trip through the event store turns tuples into lists.
        quote = OddsQuote(
            market=self.market,
            price_format=price_format,
            raw_prices=tuple(raw_prices),
            decimal_prices=tuple(decimal_prices),
            overround=overround,
            margin_method=margin_method,
            probabilities=tuple(probabilities),
        )
        self.latest = quote
        self.quote_count += 1
        if stage == QuoteStage.OPENING:
            self.opening = quote
        elif stage == QuoteStage.CLOSING:
            self.closing = quote

    @property
    def closing_line(self) -> OddsQuote | None:
        """The quote the feed marked as closing: the market's last word before kick-off."""
        return self.closing


def _check_no_result(fixture: Fixture) -> None:
    if fixture.status.has_result:
        raise OddsAfterResult(
            f"fixture {fixture.home} v {fixture.away} is {fixture.status}: no odds after the result"
        )
