"""One quote for one market: the prices as received and everything derived from them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import OutcomeMismatch
from domain.odds.margin import MarginMethod, remove_margin
from domain.odds.market import Market, Outcome
from domain.odds.price import PriceFormat, decimal_ratio


class QuoteStage(StrEnum):
    """Where the quote sits in the market's life, when the feed says so."""

    OPENING = "opening"
    CLOSING = "closing"
    LIVE = "live"


@dataclass(frozen=True)
class OddsQuote:
    """Derived fields are recomputed by :meth:`from_raw` from ``raw_prices``, ``price_format``
    and ``margin_method`` alone, so a stored quote can always be checked or recomputed."""

    market: Market
    price_format: PriceFormat
    raw_prices: tuple[str, ...]
    """Exactly as received, one per outcome in ``market.outcomes`` order."""
    decimal_prices: tuple[float, ...]
    overround: float
    """Implied probabilities' sum minus 1, computed exactly from the raw prices."""
    margin_method: MarginMethod
    probabilities: tuple[float, ...]
    """Margin-free, one per outcome, summing to 1."""

    @classmethod
    def from_raw(
        cls,
        market: Market,
        raw_prices: Mapping[Outcome, str],
        price_format: PriceFormat,
        margin_method: MarginMethod,
    ) -> OddsQuote:
        if set(raw_prices) != set(market.outcomes):
            raise OutcomeMismatch(
                f"market {market} has outcomes {[str(o) for o in market.outcomes]},"
                f" got prices for {[str(o) for o in raw_prices]}"
            )
        raws = tuple(raw_prices[outcome] for outcome in market.outcomes)
        # Exact decimal odds as integer ratios: float(n / d) rounds the exact value once, as
        # float(Fraction(n, d)) does, at a fraction of the cost.
        ratios = [decimal_ratio(raw, price_format) for raw in raws]
        decimals = [numerator / denominator for numerator, denominator in ratios]
        # Validates the book (impossible books raise) before the exact overround is taken.
        probabilities = remove_margin(decimals, margin_method)
        return cls(
            market=market,
            price_format=price_format,
            raw_prices=raws,
            decimal_prices=tuple(decimals),
            overround=exact_overround(ratios),
            margin_method=margin_method,
            probabilities=tuple(probabilities),
        )

    def probability_of(self, outcome: Outcome) -> float:
        return self.probabilities[self.market.outcomes.index(outcome)]

    def price_of(self, outcome: Outcome) -> float:
        return self.decimal_prices[self.market.outcomes.index(outcome)]


def exact_overround(ratios: Sequence[tuple[int, int]]) -> float:
    """The sum of the implied probabilities ``d / n`` of decimal odds ``n / d``, minus 1,
    computed exactly over a common denominator and rounded once to a float."""
    common = math.prod(numerator for numerator, _ in ratios)
    total = sum(denominator * (common // numerator) for numerator, denominator in ratios)
    return (total - common) / common
