"""The football 1X2 model: gradient-boosted corrections to the opening market, then calibration.

CatBoost starts every match from the opening market's margin-free log-probabilities (its
`baseline`) and learns only where ratings, form and rest say the market is off. That keeps a
small, noisy correction from ever being worse than the market by much. The number of trees is
chosen on the last training season, a temperature is fitted on that season's forecasts, and the
model is then refitted on every training season with the chosen size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from catboost import CatBoostClassifier, Pool
from numpy.typing import NDArray

from commands.forecasting.features import FootballFeatures
from commands.forecasting.metrics import Outcomes, Probabilities, log_loss


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
class TemperatureCalibration:
    """Divides log-probabilities by a temperature (> 1 softens, < 1 sharpens) and renormalises."""

    temperature: float = 1.0

    def apply(self, probabilities: Probabilities) -> Probabilities:
        return _softmax(np.log(np.clip(probabilities, 1e-12, 1.0)) / self.temperature)

    @classmethod
    def fit(cls, probabilities: Probabilities, outcomes: Outcomes) -> TemperatureCalibration:
        # Log loss is unimodal in log(temperature): a golden-section search is enough.
        lo, hi = math.log(0.5), math.log(2.0)
        ratio = (math.sqrt(5.0) - 1.0) / 2.0

        def loss(log_t: float) -> float:
            return log_loss(cls(math.exp(log_t)).apply(probabilities), outcomes)

        for _ in range(40):
            a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
            if loss(a) < loss(b):
                hi = b
            else:
                lo = a
        return cls(math.exp((lo + hi) / 2.0))


@dataclass(frozen=True)
class FootballModel:
    booster: Any  # a fitted CatBoostClassifier (untyped library)
    calibration: TemperatureCalibration
    trees: int

    def predict_proba(self, rows: Sequence[FootballFeatures]) -> Probabilities:
        """Calibrated (home, draw, away) probabilities, one row per fixture; rows sum to 1."""
        return self.calibration.apply(_predict_uncalibrated(self.booster, rows))


def train_football_model(
    training: Sequence[FootballFeatures],
    training_outcomes: Outcomes,
    holdout: Sequence[FootballFeatures],
    holdout_outcomes: Outcomes,
    parameters: FootballModelParameters | None = None,
) -> FootballModel:
    """Fit on `training`, size and calibrate on `holdout` (later in time), refit on both."""
    p = parameters or FootballModelParameters()
    sizing = _classifier(p, p.max_iterations)
    sizing.fit(
        _pool(training, training_outcomes),
        eval_set=_pool(holdout, holdout_outcomes),
        early_stopping_rounds=p.early_stopping_rounds,
        use_best_model=True,
    )
    trees = max(int(sizing.tree_count_), 1)
    calibration = TemperatureCalibration.fit(
        _predict_uncalibrated(sizing, holdout), holdout_outcomes
    )
    # More data supports a few more trees; scale the chosen size by the data grown.
    refit_trees = max(1, round(trees * (len(training) + len(holdout)) / len(training)))
    final = _classifier(p, refit_trees)
    final.fit(_pool([*training, *holdout], np.concatenate([training_outcomes, holdout_outcomes])))
    return FootballModel(booster=final, calibration=calibration, trees=refit_trees)


def _classifier(p: FootballModelParameters, iterations: int) -> CatBoostClassifier:
    return CatBoostClassifier(
        loss_function="MultiClass",
        iterations=iterations,
        learning_rate=p.learning_rate,
        depth=p.depth,
        l2_leaf_reg=p.l2_leaf_reg,
        random_seed=p.random_seed,
        thread_count=p.thread_count,
        allow_writing_files=False,
        verbose=False,
    )


def _pool(rows: Sequence[FootballFeatures], outcomes: Outcomes | None = None) -> Pool:
    return Pool(
        data=_matrix(rows),
        label=outcomes,
        baseline=_market_logits(rows),
        feature_names=list(FootballFeatures.names()),
    )


def _predict_uncalibrated(booster: Any, rows: Sequence[FootballFeatures]) -> Probabilities:
    # Raw scores without a baseline are the learned correction alone; add the market's logits.
    # Columns are in FootballFeatures order, the order the model was trained with.
    matrix = _matrix(rows)
    correction = np.asarray(booster.predict(matrix, prediction_type="RawFormulaVal"))
    return _softmax(_logits(matrix[:, :3]) + correction)


# _predict_uncalibrated reads the market from the first three columns.
assert FootballFeatures.names()[:3] == ("market_home", "market_draw", "market_away")


def _matrix(rows: Sequence[FootballFeatures]) -> NDArray[np.float64]:
    return np.array([row.as_row() for row in rows], dtype=np.float64)


def _market_logits(rows: Sequence[FootballFeatures]) -> NDArray[np.float64]:
    return _logits(np.array([row.market_probabilities() for row in rows], dtype=np.float64))


def _logits(market: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.log(np.clip(market, 1e-12, 1.0))


def _softmax(logits: NDArray[np.float64]) -> Probabilities:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: Probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return result
