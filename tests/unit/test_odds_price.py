"""Prices in three formats: exact parsing, exact conversion, and rejection of impossible prices."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidPrice
from domain.odds.price import (
    Price,
    PriceFormat,
    decimal_odds,
    format_american,
    format_decimal,
    format_fractional,
)

PROPERTIES = settings(max_examples=100, deadline=None)
two_place_prices = st.integers(101, 100_000).map(lambda hundredths: Fraction(hundredths, 100))


@pytest.mark.parametrize(
    ("raw", "price_format", "expected"),
    [
        ("2.10", PriceFormat.DECIMAL, Fraction(21, 10)),
        ("11/10", PriceFormat.FRACTIONAL, Fraction(21, 10)),
        ("+110", PriceFormat.AMERICAN, Fraction(21, 10)),
        ("-150", PriceFormat.AMERICAN, Fraction(5, 3)),
        ("2/3", PriceFormat.FRACTIONAL, Fraction(5, 3)),
        ("900", PriceFormat.AMERICAN, Fraction(10)),  # NBA moneylines come unsigned
        ("-1400", PriceFormat.AMERICAN, Fraction(15, 14)),
        ("Evens", PriceFormat.FRACTIONAL, Fraction(2)),
        ("+100", PriceFormat.AMERICAN, Fraction(2)),
        ("-100", PriceFormat.AMERICAN, Fraction(2)),
        (" 1.91 ", PriceFormat.DECIMAL, Fraction(191, 100)),
    ],
)
def test_prices_parse_to_exact_decimal_odds(
    raw: str, price_format: PriceFormat, expected: Fraction
) -> None:
    assert decimal_odds(raw, price_format) == expected


def test_a_price_keeps_the_raw_string_exactly_as_received() -> None:
    price = Price.parse("2.10", PriceFormat.DECIMAL)
    assert price.raw == "2.10"
    assert price.implied_probability == Fraction(10, 21)


@pytest.mark.parametrize(
    ("raw", "price_format"),
    [
        ("1.0", PriceFormat.DECIMAL),
        ("0.5", PriceFormat.DECIMAL),
        ("0", PriceFormat.DECIMAL),
        ("-2.0", PriceFormat.DECIMAL),
        ("abc", PriceFormat.DECIMAL),
        ("", PriceFormat.DECIMAL),
        ("nan", PriceFormat.DECIMAL),
        ("inf", PriceFormat.DECIMAL),
        ("1e3", PriceFormat.DECIMAL),
        ("2,10", PriceFormat.DECIMAL),
        ("11/0", PriceFormat.FRACTIONAL),
        ("0/1", PriceFormat.FRACTIONAL),
        ("-1/2", PriceFormat.FRACTIONAL),
        ("2.10", PriceFormat.FRACTIONAL),
        ("+50", PriceFormat.AMERICAN),
        ("-99", PriceFormat.AMERICAN),
        ("0", PriceFormat.AMERICAN),
        ("11/10", PriceFormat.AMERICAN),
    ],
)
def test_impossible_or_unparseable_prices_are_rejected_naming_the_price(
    raw: str, price_format: PriceFormat
) -> None:
    with pytest.raises(InvalidPrice) as raised:
        decimal_odds(raw, price_format)
    assert raised.value.code == "invalid-price"
    assert repr(raw) in raised.value.message


@PROPERTIES
@given(numerator=st.integers(1, 1000), denominator=st.integers(1, 1000))
def test_fractional_round_trips_exactly_in_lowest_terms(numerator: int, denominator: int) -> None:
    lowest = Fraction(numerator, denominator)
    raw = f"{numerator}/{denominator}"
    assert format_fractional(decimal_odds(raw, PriceFormat.FRACTIONAL)) == (
        f"{lowest.numerator}/{lowest.denominator}"
    )


@PROPERTIES
@given(line=st.integers(100, 100_000), favourite=st.booleans())
def test_whole_american_lines_round_trip_exactly(line: int, favourite: bool) -> None:
    raw = f"-{line}" if favourite else f"+{line}"
    expected = "+100" if line == 100 else raw  # -100 and +100 are the same price
    assert format_american(decimal_odds(raw, PriceFormat.AMERICAN)) == expected


@PROPERTIES
@given(decimal=two_place_prices)
def test_two_place_decimal_survives_american_to_two_places(decimal: Fraction) -> None:
    american = format_american(decimal)
    back = decimal_odds(american, PriceFormat.AMERICAN)
    assert format_decimal(back) == format_decimal(decimal)
    assert abs(back - decimal) < Fraction(1, 10_000)


@PROPERTIES
@given(decimal=two_place_prices)
def test_two_place_decimal_round_trips_exactly_through_fractional_and_decimal(
    decimal: Fraction,
) -> None:
    assert decimal_odds(format_fractional(decimal), PriceFormat.FRACTIONAL) == decimal
    assert decimal_odds(format_decimal(decimal), PriceFormat.DECIMAL) == decimal


def test_formats_render_the_conventional_strings() -> None:
    assert format_decimal(Fraction(5, 3)) == "1.67"
    assert format_fractional(Fraction(5, 3)) == "2/3"
    assert format_american(Fraction(5, 3)) == "-150"
    assert format_american(Fraction(21, 10)) == "+110"
    assert format_american(Fraction(191, 100)) == "-109.89"
    assert math.isclose(float(decimal_odds("-109.89", PriceFormat.AMERICAN)), 1.91, abs_tol=1e-5)
