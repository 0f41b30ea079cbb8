"""The market-free football 1X2 model: learnt from results only, for fixtures nobody quotes.

Its prior is the time-decayed Poisson model of goal_ratings.py (Dixon-Coles with time decay):
each side's expected goals give a home/draw/away distribution. CatBoost starts every match
from that prior's log-probabilities and learns a correction from the other results-only
signals (Elo with goal-difference weighting, pi-ratings, form, rest, how settled each rating
is, the league's recent home and draw rates), including the draws an independent Poisson
under-rates. Sizing, temperature calibration and the refit follow prior_boost.py, as for the
market model. No market price enters anywhere, so the model can forecast a fixture without odds
and serves as an independent view beside the market when there are odds.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from forecasting.metrics import Outcomes, Probabilities
from forecasting.oblivious import ObliviousTrees, evaluator
from forecasting.prior_boost import PriorBoost, TemperatureCalibration


@dataclass(frozen=True)
class ResultsFeatures:
    """A fixture's results-only feature vector; field order is the model's column order."""

    poisson_home: float
    poisson_draw: float
    poisson_away: float
    home_expected_goals: float
    away_expected_goals: float
    elo_gap: float
    elo_expected_score: float
    pi_goal_difference: float
    pi_home_strength: float
    pi_away_strength: float
    home_form_points: float
    away_form_points: float
    home_form_goal_difference: float
    away_form_goal_difference: float
    home_rest_days: float
    away_rest_days: float
    home_experience: float
    away_experience: float
    home_season_matches: float
    league_home_rate: float
    league_draw_rate: float

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_row(self) -> tuple[float, ...]:
        row: tuple[float, ...] = _ROW(self)
        return row

    def poisson_probabilities(self) -> tuple[float, float, float]:
        return (self.poisson_home, self.poisson_draw, self.poisson_away)


_ROW = operator.attrgetter(*ResultsFeatures.names())
_ON_POISSON = PriorBoost(prior_columns=(0, 1, 2), feature_names=ResultsFeatures.names())


@dataclass(frozen=True)
class MarketFreeParameters:
    max_iterations: int = 1500
    learning_rate: float = 0.03
    depth: int = 4
    l2_leaf_reg: float = 10.0
    early_stopping_rounds: int = 150
    random_seed: int = 20_240_601
    thread_count: int = 2


@dataclass(frozen=True)
class MarketFreeModel:
    booster: Any  # a fitted CatBoostClassifier (untyped library)
    calibration: TemperatureCalibration
    trees: int

    def predict_proba(self, rows: Sequence[ResultsFeatures]) -> Probabilities:
        """Calibrated (home, draw, away) probabilities, one row per fixture; rows sum to 1."""
        return self.calibration.apply(
            _ON_POISSON.predict_uncalibrated(self.booster, matrix(rows), self._trees)
        )

    @cached_property
    def _trees(self) -> ObliviousTrees | None:
        return evaluator(self.booster)


def train_market_free_model(
    training: Sequence[ResultsFeatures],
    training_outcomes: Outcomes,
    holdout: Sequence[ResultsFeatures],
    holdout_outcomes: Outcomes,
    parameters: MarketFreeParameters | None = None,
) -> MarketFreeModel:
    """Fit on `training`, size and calibrate on `holdout` (later in time), refit on both."""
    booster, calibration, trees = _ON_POISSON.fit(
        matrix(training),
        training_outcomes,
        matrix(holdout),
        holdout_outcomes,
        parameters or MarketFreeParameters(),
    )
    return MarketFreeModel(booster=booster, calibration=calibration, trees=trees)


def poisson_proba(rows: Sequence[ResultsFeatures]) -> Probabilities:
    """The Poisson prior alone."""
    result: Probabilities = np.array([r.poisson_probabilities() for r in rows], dtype=np.float64)
    return result


def matrix(rows: Sequence[ResultsFeatures]) -> NDArray[np.float64]:
    return np.array([row.as_row() for row in rows], dtype=np.float64)
