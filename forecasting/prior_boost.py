"""Boosted corrections to a prior: the training recipe shared by the 1X2 models.

CatBoost starts every row from the log of prior probabilities (the market's, or a Poisson
baseline's) held in some columns of the feature matrix, and learns only a correction. The number
of trees is chosen by early stopping on a later holdout, a temperature is fitted on the holdout's
forecasts, and the model is refitted on training and holdout with the size scaled to the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from catboost import CatBoostClassifier, Pool
from numpy.typing import NDArray

from forecasting.metrics import Outcomes, Probabilities, log_loss
from forecasting.oblivious import ObliviousTrees, raw_scores


class BoostingParameters(Protocol):
    @property
    def max_iterations(self) -> int: ...
    @property
    def learning_rate(self) -> float: ...
    @property
    def depth(self) -> int: ...
    @property
    def l2_leaf_reg(self) -> float: ...
    @property
    def early_stopping_rounds(self) -> int: ...
    @property
    def random_seed(self) -> int: ...
    @property
    def thread_count(self) -> int: ...


@dataclass(frozen=True)
class TemperatureCalibration:
    """Divides log-probabilities by a temperature (> 1 softens, < 1 sharpens) and renormalises."""

    temperature: float = 1.0

    def apply(self, probabilities: Probabilities) -> Probabilities:
        return softmax(np.log(np.clip(probabilities, 1e-12, 1.0)) / self.temperature)

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
class PriorBoost:
    """How a matrix is read: which columns hold the prior probabilities, and column names."""

    prior_columns: Sequence[int]
    feature_names: Sequence[str]

    def fit(
        self,
        training: NDArray[np.float64],
        training_outcomes: Outcomes,
        holdout: NDArray[np.float64],
        holdout_outcomes: Outcomes,
        p: BoostingParameters,
    ) -> tuple[Any, TemperatureCalibration, int]:
        """Size and calibrate on `holdout` (later in time), refit on both: booster,
        calibration, trees."""
        booster, calibration, trees, _ = self.fit_validated(
            training, training_outcomes, holdout, holdout_outcomes, p
        )
        return booster, calibration, trees

    def fit_validated(
        self,
        training: NDArray[np.float64],
        training_outcomes: Outcomes,
        holdout: NDArray[np.float64],
        holdout_outcomes: Outcomes,
        p: BoostingParameters,
    ) -> tuple[Any, TemperatureCalibration, int, Probabilities]:
        """`fit`, and the sized model's calibrated forecasts of `holdout` (fit on `training`
        only), which judge whether the correction pays at all."""
        sizing = _classifier(p, p.max_iterations)
        sizing.fit(
            self._pool(training, training_outcomes),
            eval_set=self._pool(holdout, holdout_outcomes),
            early_stopping_rounds=p.early_stopping_rounds,
            use_best_model=True,
        )
        trees = max(int(sizing.tree_count_), 1)
        sized = self.predict_uncalibrated(sizing, holdout)
        calibration = TemperatureCalibration.fit(sized, holdout_outcomes)
        # More data supports a few more trees; scale the chosen size by the data grown.
        refit_trees = max(1, round(trees * (len(training) + len(holdout)) / len(training)))
        final = _classifier(p, refit_trees)
        final.fit(
            self._pool(
                np.vstack([training, holdout]),
                np.concatenate([training_outcomes, holdout_outcomes]),
            )
        )
        return final, calibration, refit_trees, calibration.apply(sized)

    def predict_uncalibrated(
        self, booster: Any, matrix: NDArray[np.float64], trees: ObliviousTrees | None = None
    ) -> Probabilities:
        """`trees`: the booster's table (oblivious.py), used for small calls when given."""
        # Raw scores without a baseline are the learned correction alone; add the prior.
        correction = raw_scores(booster, matrix, trees)
        return softmax(self._prior_logits(matrix) + correction)

    def _prior_logits(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.log(np.clip(matrix[:, list(self.prior_columns)], 1e-12, 1.0))

    def _pool(self, matrix: NDArray[np.float64], outcomes: Outcomes | None = None) -> Pool:
        return Pool(
            data=matrix,
            label=outcomes,
            baseline=self._prior_logits(matrix),
            feature_names=list(self.feature_names),
        )


def softmax(logits: NDArray[np.float64]) -> Probabilities:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: Probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def _classifier(p: BoostingParameters, iterations: int) -> CatBoostClassifier:
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
