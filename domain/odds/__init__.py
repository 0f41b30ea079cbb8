"""Odds as value objects: prices in their three formats, markets, margin removal, quotes."""

from __future__ import annotations

from domain.odds.margin import (
    MarginMethod,
    implied_probabilities,
    overround,
    remove_margin,
    shin_insider_share,
)
from domain.odds.market import Market, Outcome
from domain.odds.price import Price, PriceFormat
from domain.odds.quote import OddsQuote, QuoteStage

__all__ = [
    "MarginMethod",
    "Market",
    "OddsQuote",
    "Outcome",
    "Price",
    "PriceFormat",
    "QuoteStage",
    "implied_probabilities",
    "overround",
    "remove_margin",
    "shin_insider_share",
]
