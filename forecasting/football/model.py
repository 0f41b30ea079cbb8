"""The football 1X2 model: gradient-boosted corrections to the opening market, then calibration.

CatBoost starts every match from the opening market's margin-free log-probabilities (its
`baseline`) and learns only where ratings, form and rest say the market is off. That keeps a
small, noisy correction from ever being worse than the market by much. The number of trees is
chosen on the last training season, a temperature is fitted on that season's forecasts, and the
model is then refitted on every training season with the chosen size (prior_boost.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from forecasting.football.features import FootballFeatures
from forecasting.metrics import Outcomes, Probabilities
from forecasting.oblivious import ObliviousTrees, evaluator
from forecasting.prior_boost import PriorBoost, TemperatureCalibration

__all__ = [
    "FootballModel",
    "FootballModelParameters",
    "TemperatureCalibration",
    "train_football_model",
]

# The market's margin-free probabilities are the first three columns of FootballFeatures.
assert FootballFeatures.names()[:3] == ("market_home", "market_draw", "market_away")
_ON_MARKET = PriorBoost(prior_columns=(0, 1, 2), feature_names=FootballFeatures.names())


@dataclass(frozen=True)
class FootballModelParameters:
    max_iterations: int = 1500
    learning_rate: float = 0.02
    depth: int = 4
    l2_leaf_reg: float = 10.0
    early_stopping_rounds: int = 150
    random_seed: int = 20_240_601
    thread_count: int = 2


@dataclass(frozen=True)
class FootballModel:
    booster: Any  # a fitted CatBoostClassifier (untyped library)
    calibration: TemperatureCalibration
    trees: int

    def predict_proba(self, rows: Sequence[FootballFeatures]) -> Probabilities:
        """Calibrated (home, draw, away) probabilities, one row per fixture; rows sum to 1."""
        return self.calibration.apply(
            _ON_MARKET.predict_uncalibrated(self.booster, _matrix(rows), self._trees)
        )

    @cached_property
    def _trees(self) -> ObliviousTrees | None:
        return evaluator(self.booster)


def train_football_model(
    training: Sequence[FootballFeatures],
    training_outcomes: Outcomes,
    holdout: Sequence[FootballFeatures],
    holdout_outcomes: Outcomes,
    parameters: FootballModelParameters | None = None,
) -> FootballModel:
    """Fit on `training`, size and calibrate on `holdout` (later in time), refit on both."""
    booster, calibration, trees = _ON_MARKET.fit(
        _matrix(training),
        training_outcomes,
        _matrix(holdout),
        holdout_outcomes,
        parameters or FootballModelParameters(),
    )
    return FootballModel(booster=booster, calibration=calibration, trees=trees)


def _matrix(rows: Sequence[FootballFeatures]) -> NDArray[np.float64]:
    return np.array([row.as_row() for row in rows], dtype=np.float64)
