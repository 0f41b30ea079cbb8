"""Scoring rules checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.metrics import (
    accuracy,
    brier_score,
    expected_calibration_error,
    log_loss,
    ranked_probability_score,
)

HOME, DRAW, AWAY = 0, 1, 2


def _p(*rows: tuple[float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def _y(*outcomes: int) -> np.ndarray:
    return np.array(outcomes, dtype=np.int64)


def test_rps_of_a_certain_and_correct_forecast_is_zero() -> None:
    assert ranked_probability_score(_p((1.0, 0.0, 0.0)), _y(HOME)) == 0.0


def test_rps_of_a_certain_home_win_that_ends_an_away_win_is_one() -> None:
    assert ranked_probability_score(_p((1.0, 0.0, 0.0)), _y(AWAY)) == 1.0


def test_rps_respects_the_order_of_outcomes() -> None:
    # Cumulative (0.5, 0.8) vs observed (0, 1): ((0.5)^2 + (0.2)^2) / 2 = 0.145.
    assert ranked_probability_score(_p((0.5, 0.3, 0.2)), _y(DRAW)) == pytest.approx(0.145)
    # Cumulative (0.5, 0.8) vs observed (0, 0): (0.25 + 0.64) / 2 = 0.445.
    assert ranked_probability_score(_p((0.5, 0.3, 0.2)), _y(AWAY)) == pytest.approx(0.445)


def test_rps_is_the_mean_over_matches() -> None:
    probabilities = _p((0.5, 0.3, 0.2), (0.5, 0.3, 0.2))
    assert ranked_probability_score(probabilities, _y(DRAW, AWAY)) == pytest.approx(0.295)


def test_log_loss_is_minus_the_mean_log_of_the_observed_outcome() -> None:
    probabilities = _p((0.5, 0.3, 0.2), (0.25, 0.25, 0.5))
    expected = -(math.log(0.3) + math.log(0.5)) / 2
    assert log_loss(probabilities, _y(DRAW, AWAY)) == pytest.approx(expected)


def test_log_loss_of_a_zero_probability_is_large_but_finite() -> None:
    assert log_loss(_p((1.0, 0.0, 0.0)), _y(AWAY)) == pytest.approx(-math.log(1e-15))


def test_brier_sums_squared_errors_over_the_three_outcomes() -> None:
    # (0.5-1)^2 + 0.3^2 + 0.2^2 = 0.25 + 0.09 + 0.04 = 0.38.
    assert brier_score(_p((0.5, 0.3, 0.2)), _y(HOME)) == pytest.approx(0.38)


def test_accuracy_counts_the_most_likely_outcome() -> None:
    probabilities = _p((0.5, 0.3, 0.2), (0.2, 0.3, 0.5), (0.4, 0.35, 0.25))
    assert accuracy(probabilities, _y(HOME, HOME, DRAW)) == pytest.approx(1 / 3)


def test_ece_of_perfectly_calibrated_forecasts_is_zero() -> None:
    # Two matches at (0.5, 0, 0.5): one home win, one away win, so 0.5 comes true half the time.
    probabilities = _p((0.5, 0.0, 0.5), (0.5, 0.0, 0.5))
    assert expected_calibration_error(probabilities, _y(HOME, AWAY)) == pytest.approx(0.0)


def test_ece_weights_each_bins_gap_by_its_share_of_probabilities() -> None:
    # Probabilities 0.7 (home, happened), 0.2 (draw, no), 0.1 (away, no) and the same again but
    # the away side won. Bin 7: two 0.7s, one hit: |0.7 - 0.5| = 0.2, weight 2/6.
    # Bin 2: two 0.2s, no hit: 0.2, weight 2/6. Bin 1: two 0.1s, one hit: |0.1 - 0.5| = 0.4, 2/6.
    probabilities = _p((0.7, 0.2, 0.1), (0.7, 0.2, 0.1))
    expected = (2 * 0.2 + 2 * 0.2 + 2 * 0.4) / 6
    assert expected_calibration_error(probabilities, _y(HOME, AWAY)) == pytest.approx(expected)


def test_ece_puts_a_probability_of_one_in_the_last_bin() -> None:
    assert expected_calibration_error(_p((1.0, 0.0, 0.0)), _y(HOME)) == pytest.approx(0.0)
