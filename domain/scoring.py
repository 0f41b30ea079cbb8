"""Scoring one settled forecast: which outcome happened, and the forecast's RPS, log loss, Brier.

Per forecast, for any market: outcomes are in the market's listed order, which for 1X2 is the
order the ranked probability score respects (home < draw < away). The means over many forecasts
are the track record; ``forecasting/metrics.py`` computes the same means over arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from domain.odds.market import Market, Outcome
from domain.score import Score

CALIBRATION_BUCKETS = 10


def calibration_bucket(probability: float) -> int:
    """The 10% bucket a predicted probability falls in for calibration: bucket b holds
    [b/10, (b+1)/10), and a probability of exactly 1 goes in the last (9), as
    ``forecasting.metrics.expected_calibration_error`` bins it and the PostgreSQL track record
    (``least(floor(p * 10), 9)``) does; stored with each analytics row so both engines agree."""
    return min(math.floor(probability * CALIBRATION_BUCKETS), CALIBRATION_BUCKETS - 1)


LOG_LOSS_FLOOR = 1e-15
"""A probability of 0 for what happened would make the log loss infinite; it is floored here,
as in ``forecasting.metrics.log_loss``."""


def observed_outcome(market: str, score: Score) -> str:
    """The outcome of ``market`` that ``score`` settles (a level moneyline cannot be settled)."""
    kind = Market(market)
    if kind == Market.MATCH_RESULT:
        if score.home > score.away:
            return Outcome.HOME.value
        return Outcome.DRAW.value if score.is_level else Outcome.AWAY.value
    if kind == Market.MONEYLINE:
        if score.is_level:
            raise ValueError(f"a moneyline cannot be settled on a level score {score}")
        return (Outcome.HOME if score.home > score.away else Outcome.AWAY).value
    if kind == Market.OVER_UNDER_2_5:
        return (Outcome.OVER if score.home + score.away > 2 else Outcome.UNDER).value
    return (Outcome.YES if score.home > 0 and score.away > 0 else Outcome.NO).value


@dataclass(frozen=True, slots=True)
class ForecastScores:
    rps: float
    log_loss: float
    brier: float


def score_probabilities(
    outcomes: Sequence[str], probabilities: Sequence[float], observed: str
) -> ForecastScores:
    """RPS (cumulative squared gaps over the first n-1 outcomes, over n-1), log loss of the
    observed outcome, and the multi-class Brier score (summed over the outcomes)."""
    if len(outcomes) != len(probabilities) or len(outcomes) < 2:
        raise ValueError("one probability per outcome, and at least two outcomes")
    hit = [1.0 if outcome == observed else 0.0 for outcome in outcomes]
    if sum(hit) != 1.0:
        raise ValueError(f"{observed!r} is not one of the outcomes {tuple(outcomes)}")
    cumulative_gap = 0.0
    rps = 0.0
    for p, o in zip(probabilities[:-1], hit[:-1], strict=True):
        cumulative_gap += p - o
        rps += cumulative_gap * cumulative_gap
    rps /= len(outcomes) - 1
    chosen = probabilities[hit.index(1.0)]
    log_loss = -math.log(min(max(chosen, LOG_LOSS_FLOOR), 1.0))
    brier = sum((p - o) ** 2 for p, o in zip(probabilities, hit, strict=True))
    return ForecastScores(rps=rps, log_loss=log_loss, brier=brier)
