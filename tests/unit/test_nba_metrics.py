"""The home-win scoring rules of the NBA models (forecasting/nba/model.py)."""

from __future__ import annotations

import numpy as np

from forecasting.metrics import brier_score, log_loss
from forecasting.nba.model import (
    home_accuracy,
    home_brier_score,
    home_calibration_error,
    home_log_loss,
)

HOME = np.array([0.81, 0.62, 0.35, 0.55, 0.12, 0.93, 0.47, 0.71])
WON = np.array([1, 0, 0, 1, 0, 1, 1, 1], dtype=np.int64)
TWO_WAY = np.column_stack([HOME, 1.0 - HOME])  # column 0: the home side won
OUTCOME = 1 - WON


def test_home_scores_are_the_two_way_scores() -> None:
    assert home_log_loss(HOME, WON) == np.float64(log_loss(TWO_WAY, OUTCOME))
    assert np.isclose(home_brier_score(HOME, WON), brier_score(TWO_WAY, OUTCOME) / 2)


def test_calibration_error_weighs_each_bins_gap_by_its_games() -> None:
    # One game per bin here: the mean of |p - won| (2.62 / 8).
    assert np.isclose(home_calibration_error(HOME, WON), np.mean(np.abs(HOME - WON)))
    # Two games in one bin whose gaps cancel: calibrated there.
    assert home_calibration_error(np.array([0.5, 0.5]), np.array([1, 0])) == 0.0


def test_accuracy_counts_the_favourite_winning() -> None:
    # Favourites: home 0.81 won, 0.62 lost, away (0.35) won, 0.55 won, away (0.12) won,
    # 0.93 won, away (0.47) lost, 0.71 won.
    assert home_accuracy(HOME, WON) == 6 / 8
