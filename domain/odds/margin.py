"""Removing the bookmaker's margin: from the decimal prices of one complete market to proper
probabilities (positive, summing to 1).

Every method works in floats. The root-finding methods stop when the bracket is narrower than
``1e-15`` and then divide by the sum, so results sum to 1 within ``1e-12`` and agree with an exact
solution to about ``1e-12``. The event stores the method name, so any quote can be recomputed.

References: Štrumbelj (2014), "On determining probability forecasts from betting odds",
International Journal of Forecasting 30(4); Shin (1992, 1993); Clarke, Kovalchik & Ingram (2017)
for the power method; the ``implied`` R package and the ``shin`` Python package for formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import StrEnum

from domain.errors import ImpossibleBook, InvalidPrice, MarginRemovalFailed

# Books whose implied probabilities sum to 1 within this are treated as margin-free, so a fair
# book such as (3.0, 3.0, 3.0) is not rejected for float rounding.
FAIR_BOOK_TOLERANCE = 1e-12
_BRACKET = 1e-15
_MAX_ITERATIONS = 200


class MarginMethod(StrEnum):
    PROPORTIONAL = "proportional"
    """Divide each implied probability by the booksum (a.k.a. basic or multiplicative)."""
    ADDITIVE = "additive"
    """Subtract an equal share of the overround from each implied probability."""
    POWER = "power"
    """Raise each implied probability to the power k that makes them sum to 1."""
    SHIN = "shin"
    """Shin's model: a share z of insider money makes the bookmaker shade long shots most."""


def implied_probabilities(prices: Sequence[float]) -> list[float]:
    """The raw implied probabilities ``1 / price``, margin included."""
    _check_prices(prices)
    return [1.0 / price for price in prices]


def overround(prices: Sequence[float]) -> float:
    """The bookmaker's margin: the implied probabilities' sum minus 1 (0.05 is a 5% book)."""
    return math.fsum(implied_probabilities(prices)) - 1.0


def remove_margin(prices: Sequence[float], method: MarginMethod) -> list[float]:
    return _METHODS[method](prices)


def proportional(prices: Sequence[float]) -> list[float]:
    implied = _complete_book(prices)
    booksum = math.fsum(implied)
    return [p / booksum for p in implied]


def additive(prices: Sequence[float]) -> list[float]:
    """Fails for a long shot whose implied probability is below its share of the margin."""
    implied = _complete_book(prices)
    share = (math.fsum(implied) - 1.0) / len(implied)
    probabilities = [p - share for p in implied]
    if min(probabilities) <= 0.0:
        raise MarginRemovalFailed(
            f"additive margin removal gives a non-positive probability for prices {list(prices)}:"
            f" the margin share {share:.6f} exceeds the long shot's implied probability"
            f" {min(implied):.6f}; use another method"
        )
    return _normalise(probabilities)


def power(prices: Sequence[float]) -> list[float]:
    """Solve ``sum(p_i ** k) = 1`` for ``k >= 1``; the function is convex and decreasing in k,
    so Newton's method from k = 1 climbs to the root without overshooting."""
    implied = _complete_book(prices)
    logs = [math.log(p) for p in implied]
    k = 1.0
    for _ in range(_MAX_ITERATIONS):
        excess = math.fsum(math.exp(k * log) for log in logs) - 1.0
        if excess <= 0.0:
            break
        slope = math.fsum(log * math.exp(k * log) for log in logs)
        step = -excess / slope
        k += step
        if step <= _BRACKET * k:
            break
    return _normalise([p**k for p in implied])


def shin(prices: Sequence[float]) -> list[float]:
    """Shin's probabilities ``(sqrt(z^2 + 4(1-z) pi^2 / B) - z) / (2(1-z))``, with the insider
    share z solved so that they sum to 1 (B is the booksum)."""
    return _solve_shin(prices)[1]


def shin_insider_share(prices: Sequence[float]) -> float:
    """Shin's z for these prices: the estimated share of the money that comes from insiders."""
    return _solve_shin(prices)[0]


def _solve_shin(prices: Sequence[float]) -> tuple[float, list[float]]:
    implied = _complete_book(prices)
    booksum = math.fsum(implied)

    def probabilities(z: float) -> list[float]:
        return [
            (math.sqrt(z * z + 4.0 * (1.0 - z) * p * p / booksum) - z) / (2.0 * (1.0 - z))
            for p in implied
        ]

    # The sum is sqrt(B) >= 1 at z = 0, falls as z grows and is below 1 before z reaches 1.
    low, high = 0.0, 1.0
    for _ in range(_MAX_ITERATIONS):
        if high - low <= _BRACKET:
            break
        middle = (low + high) / 2.0
        if math.fsum(probabilities(middle)) > 1.0:
            low = middle
        else:
            high = middle
    return low, _normalise(probabilities(low))


def _complete_book(prices: Sequence[float]) -> list[float]:
    implied = implied_probabilities(prices)
    booksum = math.fsum(implied)
    if booksum < 1.0 - FAIR_BOOK_TOLERANCE:
        raise ImpossibleBook(
            f"implied probabilities of prices {list(prices)} sum to {booksum:.6f}, below 1:"
            " backing every outcome would guarantee a profit"
        )
    return implied


def _check_prices(prices: Sequence[float]) -> None:
    if len(prices) < 2:
        raise InvalidPrice(f"a market needs at least two prices, got {list(prices)}")
    for price in prices:
        if not math.isfinite(price) or price <= 1.0:
            raise InvalidPrice(
                f"decimal price {price!r} in {list(prices)} is impossible:"
                " decimal odds must be finite and above 1.0"
            )


def _normalise(probabilities: list[float]) -> list[float]:
    total = math.fsum(probabilities)
    return [p / total for p in probabilities]


_METHODS: dict[MarginMethod, Callable[[Sequence[float]], list[float]]] = {
    MarginMethod.PROPORTIONAL: proportional,
    MarginMethod.ADDITIVE: additive,
    MarginMethod.POWER: power,
    MarginMethod.SHIN: shin,
}
