"""Margin removal: every method turns a complete book into proper probabilities."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.errors import ImpossibleBook, InvalidPrice, MarginRemovalFailed
from domain.odds.margin import (
    MarginMethod,
    additive,
    overround,
    power,
    proportional,
    remove_margin,
    shin,
    shin_insider_share,
)

SUM_TOLERANCE = 1e-9
PROPERTIES = settings(max_examples=60, deadline=None)


@st.composite
def books(draw: st.DrawFn, *, margin: tuple[float, float] = (0.0, 0.25)) -> list[float]:
    """Prices on the 0.01 grid feeds use, from true probabilities plus a margin. Rounding down
    only shortens prices, so the booksum stays at least 1 + margin."""
    weights = draw(st.lists(st.integers(1, 100), min_size=2, max_size=4))
    extra = draw(st.floats(*margin))
    total = sum(weights)
    prices = [math.floor(100 / (w / total * (1 + extra))) / 100 for w in weights]
    assume(all(price > 1.0 for price in prices))
    return prices


@st.composite
def impossible_books(draw: st.DrawFn) -> list[float]:
    weights = draw(st.lists(st.integers(1, 100), min_size=2, max_size=4))
    shortfall = draw(st.floats(0.001, 0.3))
    total = sum(weights)
    return [math.ceil(100 / (w / total * (1 - shortfall))) / 100 for w in weights]


def assert_proper(probabilities: list[float], prices: list[float]) -> None:
    assert abs(math.fsum(probabilities) - 1.0) <= SUM_TOLERANCE
    assert all(0.0 < p < 1.0 for p in probabilities)
    for price_a, p_a in zip(prices, probabilities, strict=True):
        for price_b, p_b in zip(prices, probabilities, strict=True):
            if price_a < price_b:
                assert p_a > p_b, (prices, probabilities)
            elif price_a == price_b:
                assert p_a == pytest.approx(p_b, abs=1e-12)


@pytest.mark.parametrize(
    "method", [MarginMethod.PROPORTIONAL, MarginMethod.POWER, MarginMethod.SHIN]
)
@PROPERTIES
@given(prices=books())
def test_margin_removal_gives_proper_probabilities_in_price_order(
    method: MarginMethod, prices: list[float]
) -> None:
    assert_proper(remove_margin(prices, method), prices)


@PROPERTIES
@given(prices=books())
def test_additive_gives_proper_probabilities_or_fails_when_a_long_shot_cannot_bear_its_share(
    prices: list[float],
) -> None:
    implied = [1 / price for price in prices]
    share = (math.fsum(implied) - 1) / len(prices)
    if min(implied) - share <= 1e-12:
        with pytest.raises(MarginRemovalFailed) as raised:
            additive(prices)
        assert raised.value.code == "margin-removal-failed"
    else:
        assert_proper(additive(prices), prices)


@PROPERTIES
@given(prices=books())
def test_proportional_divides_each_implied_probability_by_the_booksum(prices: list[float]) -> None:
    booksum = math.fsum(1 / price for price in prices)
    expected = [(1 / price) / booksum for price in prices]
    assert proportional(prices) == pytest.approx(expected, abs=1e-15)


@PROPERTIES
@given(prices=books())
def test_overround_is_the_implied_probabilities_sum_minus_one(prices: list[float]) -> None:
    assert overround(prices) == pytest.approx(sum(1 / price for price in prices) - 1, abs=1e-12)
    assert overround(prices) >= -1e-12


@PROPERTIES
@given(prices=books(margin=(0.001, 0.25)))
def test_power_raises_every_implied_probability_to_the_same_exponent(prices: list[float]) -> None:
    assume(len(set(prices)) == len(prices))
    exponents = [
        math.log(p) / math.log(1 / price) for p, price in zip(power(prices), prices, strict=True)
    ]
    assert max(exponents) - min(exponents) < 1e-9
    assert min(exponents) >= 1.0


@PROPERTIES
@given(prices=books().filter(lambda prices: len(prices) == 2))
def test_shin_equals_additive_for_two_outcomes(prices: list[float]) -> None:
    # A known result (e.g. Clarke et al. 2017): with two outcomes Shin's z shifts both equally.
    assert shin(prices) == pytest.approx(additive(prices), abs=1e-10)


@pytest.mark.parametrize("method", list(MarginMethod))
@PROPERTIES
@given(prices=impossible_books())
def test_books_whose_implied_probabilities_sum_below_one_are_rejected(
    method: MarginMethod, prices: list[float]
) -> None:
    with pytest.raises(ImpossibleBook) as raised:
        remove_margin(prices, method)
    assert raised.value.code == "impossible-book"
    assert str(prices[0]) in raised.value.message


@pytest.mark.parametrize("method", list(MarginMethod))
@pytest.mark.parametrize("prices", [[2.0, 2.0], [3.0, 3.0, 3.0], [1.25, 5.0]])
def test_a_fair_book_keeps_its_implied_probabilities(
    method: MarginMethod, prices: list[float]
) -> None:
    assert remove_margin(prices, method) == pytest.approx([1 / p for p in prices], abs=1e-12)


def test_shin_matches_the_published_shin_package_example() -> None:
    # README of the python `shin` package (mberk/shin): odds [2.6, 2.4, 4.3].
    prices = [2.6, 2.4, 4.3]
    assert shin(prices) == pytest.approx(
        [0.37299406033208965, 0.4047794109200184, 0.2222265287474275], abs=1e-10
    )
    assert shin_insider_share(prices) == pytest.approx(0.01694251276407055, abs=1e-10)


def test_power_and_shin_on_a_hand_computed_two_way_book() -> None:
    # Prices 1.25 and 5/3 imply 0.8 and 0.6 (overround 0.4).
    # Power: 0.8^2 + 0.6^2 = 1, so k = 2 and the probabilities are 0.64 and 0.36.
    # Additive (and so Shin, two outcomes): subtract 0.2 from each, giving 0.6 and 0.4.
    prices = [1.25, 5 / 3]
    assert power(prices) == pytest.approx([0.64, 0.36], abs=1e-12)
    assert shin(prices) == pytest.approx([0.6, 0.4], abs=1e-12)
    assert additive(prices) == pytest.approx([0.6, 0.4], abs=1e-12)
    assert proportional(prices) == pytest.approx([0.8 / 1.4, 0.6 / 1.4], abs=1e-12)


def test_shin_shades_long_shots_more_than_proportional() -> None:
    # The favourite-long-shot bias: Shin moves probability from the long shot to the favourite.
    prices = [1.3, 5.0, 11.0]
    assert shin(prices)[0] > proportional(prices)[0]
    assert shin(prices)[2] < proportional(prices)[2]


@pytest.mark.parametrize(
    "prices", [[1.0, 3.0], [0.0, 2.0], [-2.0, 2.0], [math.nan, 2.0], [math.inf, 2.0], [2.0]]
)
def test_impossible_decimal_prices_are_rejected_by_every_method(prices: list[float]) -> None:
    for method in MarginMethod:
        with pytest.raises(InvalidPrice) as raised:
            remove_margin(prices, method)
        assert raised.value.code == "invalid-price"
