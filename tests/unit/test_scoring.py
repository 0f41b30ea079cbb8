"""Scoring one forecast agrees with the metrics module's means over arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.score import Score
from domain.scoring import observed_outcome, score_probabilities
from forecasting.metrics import brier_score, log_loss, ranked_probability_score

OUTCOMES = ("home", "draw", "away")


@given(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3), st.integers(0, 2))
def test_one_forecast_scores_as_the_metrics_module_scores_it(raw: list[float], hit: int) -> None:
    p = np.array([raw]) / sum(raw)
    scores = score_probabilities(OUTCOMES, tuple(p[0]), OUTCOMES[hit])
    outcome = np.array([hit])
    assert scores.rps == pytest.approx(ranked_probability_score(p, outcome), abs=1e-12)
    assert scores.log_loss == pytest.approx(log_loss(p, outcome), abs=1e-12)
    assert scores.brier == pytest.approx(brier_score(p, outcome), abs=1e-12)


@pytest.mark.parametrize(
    ("market", "score", "expected"),
    [
        ("1x2", Score(2, 1), "home"),
        ("1x2", Score(1, 1), "draw"),
        ("1x2", Score(0, 3), "away"),
        ("moneyline", Score(101, 99), "home"),
        ("over-under-2.5", Score(2, 1), "over"),
        ("over-under-2.5", Score(2, 0), "under"),
        ("btts", Score(1, 1), "yes"),
        ("btts", Score(3, 0), "no"),
    ],
)
def test_the_result_settles_each_market(market: str, score: Score, expected: str) -> None:
    assert observed_outcome(market, score) == expected


def test_a_level_moneyline_and_an_unknown_outcome_are_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        observed_outcome("moneyline", Score(100, 100))
    with pytest.raises(ValueError, match="not one of the outcomes"):
        score_probabilities(OUTCOMES, (0.5, 0.3, 0.2), "over")
