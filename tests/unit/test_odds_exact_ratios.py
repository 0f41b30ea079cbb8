"""Quotes computed with integer ratios give exactly what exact Fraction arithmetic gives."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ImpossibleBook, InvalidPrice, MarginRemovalFailed
from domain.odds import MarginMethod, Market, OddsQuote, Outcome, PriceFormat
from domain.odds.price import Price, decimal_odds, decimal_ratio
from domain.odds.quote import exact_overround

PROPERTIES = settings(max_examples=300, deadline=None)
decimal_texts = st.builds(
    lambda whole, places, digits: f"{whole}.{places:0{digits}d}" if digits else str(whole),
    st.integers(1, 60),
    st.integers(0, 999),
    st.sampled_from([0, 1, 2, 3]),
)


def outcome(parse: Callable[[], object]) -> object:
    """What parsing gives: the value, or the reason it was refused."""
    try:
        return parse()
    except InvalidPrice as refused:
        return f"refused: {refused}"


@PROPERTIES
@given(decimal_texts)
def test_a_decimal_ratio_is_the_exact_decimal_odds(raw: str) -> None:
    by_fraction = outcome(lambda: decimal_odds(raw, PriceFormat.DECIMAL))
    by_ratio = outcome(lambda: decimal_ratio(raw, PriceFormat.DECIMAL))
    if isinstance(by_fraction, Fraction):
        assert isinstance(by_ratio, tuple)
        assert Fraction(*by_ratio) == by_fraction
        assert by_ratio[0] / by_ratio[1] == float(by_fraction)
    else:
        assert by_ratio == by_fraction


@pytest.mark.parametrize(
    ("raw", "price_format"),
    [
        ("1.00", PriceFormat.DECIMAL),
        ("0.95", PriceFormat.DECIMAL),
        ("2,10", PriceFormat.DECIMAL),
        ("", PriceFormat.DECIMAL),
        ("0/1", PriceFormat.FRACTIONAL),
        ("+50", PriceFormat.AMERICAN),
    ],
)
def test_impossible_prices_are_refused_with_the_same_reason(
    raw: str, price_format: PriceFormat
) -> None:
    with pytest.raises(InvalidPrice) as by_fraction:
        Price.parse(raw, price_format)
    with pytest.raises(InvalidPrice) as by_ratio:
        decimal_ratio(raw, price_format)
    assert str(by_ratio.value) == str(by_fraction.value)


@pytest.mark.parametrize(
    ("raw", "price_format"),
    [
        (" 2.10 ", PriceFormat.DECIMAL),
        ("11/10", PriceFormat.FRACTIONAL),
        ("-150", PriceFormat.AMERICAN),
    ],
)
def test_every_format_gives_its_exact_ratio(raw: str, price_format: PriceFormat) -> None:
    numerator, denominator = decimal_ratio(raw, price_format)
    assert Fraction(numerator, denominator) == Price.parse(raw, price_format).decimal


@PROPERTIES
@given(st.lists(decimal_texts, min_size=2, max_size=3))
def test_overround_is_the_exact_sum_of_implied_probabilities_rounded_once(
    raws: list[str],
) -> None:
    try:
        prices = [Price.parse(raw, PriceFormat.DECIMAL) for raw in raws]
    except InvalidPrice:
        return
    exact = sum(price.implied_probability for price in prices) - 1
    ratios = [decimal_ratio(raw, PriceFormat.DECIMAL) for raw in raws]
    assert exact_overround(ratios) == float(exact)


@PROPERTIES
@given(decimal_texts, decimal_texts, decimal_texts, st.sampled_from(list(MarginMethod)))
def test_a_quote_matches_one_computed_with_fractions(
    home: str, draw: str, away: str, method: MarginMethod
) -> None:
    raw = {Outcome.HOME: home, Outcome.DRAW: draw, Outcome.AWAY: away}
    try:
        prices = [Price.parse(raw[o], PriceFormat.DECIMAL) for o in Market.MATCH_RESULT.outcomes]
        quote = OddsQuote.from_raw(Market.MATCH_RESULT, raw, PriceFormat.DECIMAL, method)
    except (InvalidPrice, ImpossibleBook, MarginRemovalFailed):
        return  # refusals: see the tests above and test_odds_margin
    assert quote.raw_prices == (home, draw, away)
    assert quote.decimal_prices == tuple(float(p.decimal) for p in prices)
    assert quote.overround == float(sum(p.implied_probability for p in prices) - 1)
