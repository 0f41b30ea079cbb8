"""A single price as the feed sent it, and its exact value as decimal odds.

Prices are parsed into :class:`fractions.Fraction` so that conversions between the three formats
are exact (``11/10`` = ``+110`` = ``2.1``; ``-150`` = ``2/3`` = 5/3). Floats appear only where the
margin is removed. The raw string is kept untouched for provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from domain.errors import InvalidPrice

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")  # ASCII digits: \d takes any script's
_FRACTIONAL = re.compile(r"([0-9]+) */ *([0-9]+)")
_AMERICAN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_EVENS = {"evens", "evs", "even"}
_HUNDRED = Fraction(100)
MAX_PRICE_CHARS = 32
"""Longer is no price (and a 5,000-digit one would cost Python's int() a ValueError)."""


class PriceFormat(StrEnum):
    DECIMAL = "decimal"
    """European odds: total return per unit staked, e.g. ``2.10``."""
    FRACTIONAL = "fractional"
    """UK odds: profit over stake, e.g. ``11/10`` (``evens`` = ``1/1``)."""
    AMERICAN = "american"
    """Moneyline: ``+110`` wins 110 per 100 staked, ``-150`` stakes 150 to win 100."""


@dataclass(frozen=True)
class Price:
    raw: str
    """Exactly as received."""
    format: PriceFormat
    decimal: Fraction
    """The exact decimal odds; always greater than 1."""

    @classmethod
    def parse(cls, raw: str, price_format: PriceFormat) -> Price:
        return cls(raw=raw, format=price_format, decimal=decimal_odds(raw, price_format))

    @property
    def implied_probability(self) -> Fraction:
        return 1 / self.decimal


def decimal_odds(raw: str, price_format: PriceFormat) -> Fraction:
    """The exact decimal odds of ``raw``; raises :class:`InvalidPrice` for anything else."""
    _check_length(raw)
    if price_format == PriceFormat.DECIMAL:
        return Fraction(*decimal_ratio(raw, price_format))
    text = raw.strip()
    if price_format == PriceFormat.FRACTIONAL:
        value = 1 + _fractional_profit(raw, text)
    else:
        value = 1 + _american_profit(raw, text)
    _check_above_one(raw, price_format, value.numerator, value.denominator)
    return value


def decimal_ratio(raw: str, price_format: PriceFormat) -> tuple[int, int]:
    """:func:`decimal_odds` as a numerator and a positive denominator (not always in lowest
    terms): the same checks and errors, without building a Fraction for a decimal price, as
    a busy feed's quotes need exact arithmetic that integers do faster."""
    if price_format != PriceFormat.DECIMAL:
        value = decimal_odds(raw, price_format)
        return value.numerator, value.denominator
    _check_length(raw)
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        raise InvalidPrice(f"{raw!r} is not a decimal price (expected e.g. '2.10')")
    whole, _, places = text.partition(".")
    numerator, denominator = int(whole + places), 10 ** len(places)
    _check_above_one(raw, price_format, numerator, denominator)
    return numerator, denominator


def _check_length(raw: str) -> None:
    if len(raw) > MAX_PRICE_CHARS:
        raise InvalidPrice(f"a price has at most {MAX_PRICE_CHARS} characters, got {len(raw)}")


def _check_above_one(raw: str, price_format: PriceFormat, numerator: int, denominator: int) -> None:
    if numerator <= denominator:
        raise InvalidPrice(
            f"{price_format} price {raw!r} is decimal odds {numerator / denominator:g}: "
            "a price must return more than the stake (decimal odds above 1.0)"
        )


def _fractional_profit(raw: str, text: str) -> Fraction:
    if text.casefold() in _EVENS:
        return Fraction(1)
    match = _FRACTIONAL.fullmatch(text)
    if match is None:
        raise InvalidPrice(f"{raw!r} is not a fractional price (expected e.g. '11/10')")
    numerator, denominator = int(match[1]), int(match[2])
    if denominator == 0:
        raise InvalidPrice(f"fractional price {raw!r} has a zero denominator")
    return Fraction(numerator, denominator)


def _american_profit(raw: str, text: str) -> Fraction:
    if not _AMERICAN.fullmatch(text):
        raise InvalidPrice(f"{raw!r} is not an American price (expected e.g. '+110' or '-150')")
    line = Fraction(text)
    if abs(line) < _HUNDRED:
        raise InvalidPrice(f"American price {raw!r} is between -100 and +100: no such price exists")
    return line / _HUNDRED if line > 0 else _HUNDRED / -line


def format_decimal(decimal: Fraction, places: int = 2) -> str:
    """Decimal odds rounded half-up to ``places`` (2 is the market convention)."""
    exact = Decimal(decimal.numerator) / Decimal(decimal.denominator)
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def format_fractional(decimal: Fraction) -> str:
    """Exact fractional odds in lowest terms: ``Fraction(21, 10)`` -> ``'11/10'``."""
    profit = decimal - 1
    return f"{profit.numerator}/{profit.denominator}"


def format_american(decimal: Fraction, places: int = 2) -> str:
    """American odds, signed, rounded half-up to ``places`` with trailing zeros dropped.

    Evens is written ``+100`` (``-100`` means the same price).
    """
    profit = decimal - 1
    line = profit * _HUNDRED if profit >= 1 else -_HUNDRED / profit
    text = format_decimal(line, places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text.startswith("-") else f"+{text}"
