"""The football 1X2 model: gradient-boosted corrections to the market, kept only if they pay.

CatBoost starts every match from the market's margin-free log-probabilities (its `baseline`)
and learns only where ratings, form and rest say the market is off. There is one correction
per trigger stage: at odds-open (and every later move) the market columns hold the latest
quote before the close; at the closing quote they hold the closing prices (`market_at_close`).
The number of trees is chosen on the last training season, a temperature is fitted on that
season's forecasts, and the model is then refitted on every training season with the chosen
size (prior_boost.py).

Never worse than the market it is given (docs/adr/0013): a stage's correction is kept only if
its gain in RPS over that stage's market on the validation season (the sized model's
out-of-sample forecasts, match by match) exceeds one standard error of the per-match gain, the
rule ADR 0010 applies to the NBA line. Otherwise the stage's forecast is the margin-free market.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from forecasting.football.features import FootballFeatures
from forecasting.football.market_free import MarketFreeModel
from forecasting.metrics import Outcomes, Probabilities, per_match_rps
from forecasting.oblivious import ObliviousTrees, evaluator
from forecasting.prior_boost import PriorBoost, TemperatureCalibration

__all__ = [
    "FootballModel",
    "FootballModelParameters",
    "StageCorrection",
    "TemperatureCalibration",
    "train_football_model",
]

# The market's margin-free probabilities are the first three columns of FootballFeatures.
assert FootballFeatures.names()[:3] == ("market_home", "market_draw", "market_away")
_ON_MARKET = PriorBoost(prior_columns=(0, 1, 2), feature_names=FootballFeatures.names())
_AT_CLOSE = FootballFeatures.names().index("market_at_close")


@dataclass(frozen=True)
class FootballModelParameters:
    max_iterations: int = 1500
    learning_rate: float = 0.02
    depth: int = 4
    l2_leaf_reg: float = 10.0
    early_stopping_rounds: int = 150
    random_seed: int = 20_240_601
    thread_count: int = 2
    # A stage's correction is kept only if its validation gain over the market exceeds this
    # many standard errors of the per-match gain (the one-standard-error rule; ADR 0013).
    standard_errors: float = 1.0


@dataclass(frozen=True)
class StageCorrection:
    """One trigger stage's correction to the market; no booster means the market itself."""

    booster: Any  # a fitted CatBoostClassifier (untyped library), or None
    calibration: TemperatureCalibration
    trees: int
    validation_gain: float = math.nan  # mean per-match RPS, market minus model
    standard_error: float = math.nan

    @property
    def kept(self) -> bool:
        return self.booster is not None

    @cached_property
    def _trees(self) -> ObliviousTrees | None:
        return None if self.booster is None else evaluator(self.booster)

    def predict_proba(self, matrix: NDArray[np.float64]) -> Probabilities:
        if self.booster is None:
            result: Probabilities = matrix[:, 0:3] / matrix[:, 0:3].sum(axis=1, keepdims=True)
            return result
        return self.calibration.apply(
            _ON_MARKET.predict_uncalibrated(self.booster, matrix, self._trees)
        )


MARKET = StageCorrection(booster=None, calibration=TemperatureCalibration(), trees=0)
"""No correction: the forecast is the margin-free market."""


@dataclass(frozen=True)
class FootballModel:
    """`booster`, `calibration`, `trees`: the odds-open correction (booster None: the
    market); `closing`: the correction at the closing quote; `market_free`: the results-only
    model (market_free.py) trained with it, for league fixtures nobody quotes (None: none)."""

    booster: Any
    calibration: TemperatureCalibration
    trees: int
    validation_gain: float = math.nan
    standard_error: float = math.nan
    closing: StageCorrection = field(default=MARKET)
    market_free: MarketFreeModel | None = None

    @cached_property
    def opening(self) -> StageCorrection:
        return StageCorrection(
            self.booster, self.calibration, self.trees, self.validation_gain, self.standard_error
        )

    def predict_proba(self, rows: Sequence[FootballFeatures]) -> Probabilities:
        """Calibrated (home, draw, away) probabilities, one row per fixture; rows sum to 1.
        Each row goes to the correction of its stage (`market_at_close`)."""
        matrix = _matrix(rows)
        at_close = matrix[:, _AT_CLOSE] > 0.5
        if not np.any(at_close):
            return self.opening.predict_proba(matrix)
        if np.all(at_close):
            return self.closing.predict_proba(matrix)
        out = np.empty((len(matrix), 3), dtype=np.float64)
        out[~at_close] = self.opening.predict_proba(matrix[~at_close])
        out[at_close] = self.closing.predict_proba(matrix[at_close])
        return out


def train_football_model(
    training: Sequence[FootballFeatures],
    training_outcomes: Outcomes,
    holdout: Sequence[FootballFeatures],
    holdout_outcomes: Outcomes,
    parameters: FootballModelParameters | None = None,
    *,
    closing: tuple[Sequence[FootballFeatures], Outcomes, Sequence[FootballFeatures], Outcomes]
    | None = None,
) -> FootballModel:
    """Fit on `training`, size and calibrate on `holdout` (later in time), refit on both; the
    same for `closing` (training rows, outcomes, holdout rows, outcomes at the closing quote)
    when given, else the closing forecast is the market. Each correction is kept only if it
    passes the one-standard-error rule on its holdout."""
    p = parameters or FootballModelParameters()
    opening = _stage(training, training_outcomes, holdout, holdout_outcomes, p)
    close = MARKET if closing is None else _stage(*closing, p)
    return FootballModel(
        booster=opening.booster,
        calibration=opening.calibration,
        trees=opening.trees,
        validation_gain=opening.validation_gain,
        standard_error=opening.standard_error,
        closing=close,
    )


def _stage(
    training: Sequence[FootballFeatures],
    training_outcomes: Outcomes,
    holdout: Sequence[FootballFeatures],
    holdout_outcomes: Outcomes,
    p: FootballModelParameters,
) -> StageCorrection:
    held = _matrix(holdout)
    booster, calibration, trees, validation = _ON_MARKET.fit_validated(
        _matrix(training), training_outcomes, held, holdout_outcomes, p
    )
    gain, standard_error = rps_gain(held[:, 0:3], validation, holdout_outcomes)
    if not gain > p.standard_errors * standard_error:
        return StageCorrection(None, TemperatureCalibration(), 0, gain, standard_error)
    return StageCorrection(booster, calibration, trees, gain, standard_error)


def rps_gain(
    market: Probabilities, model: Probabilities, outcomes: Outcomes
) -> tuple[float, float]:
    """Mean per-match RPS of the market minus the model's, and its standard error."""
    gains = per_match_rps(market, outcomes) - per_match_rps(model, outcomes)
    if len(gains) < 2:
        return float(gains.mean()) if len(gains) else 0.0, math.inf
    return float(gains.mean()), float(gains.std(ddof=1) / math.sqrt(len(gains)))


def _matrix(rows: Sequence[FootballFeatures]) -> NDArray[np.float64]:
    return np.array([row.as_row() for row in rows], dtype=np.float64)
