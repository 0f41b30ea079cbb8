"""The NBA home-win model: gradient-boosted corrections to the moneyline, kept only if they pay.

As in the football model, CatBoost starts each game from the moneyline's margin-free logit (its
`baseline`) and learns only where Elo, form, rest and the season's point differential say the
line is off. The NBA line is sharp and already calibrated (a Platt scaling fitted on earlier
seasons makes it worse out of sample), so the size of the correction is chosen by walk-forward
validation over the last few training seasons, and zero trees (the market itself) is a candidate:
the model departs from the line only where past seasons say it helps by more than the noise of
that estimate (one standard error of the per-game gain, docs/adr/0010).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from catboost import CatBoostClassifier, Pool
from numpy.typing import NDArray

from forecasting.nba.features import NbaFeatures
from forecasting.oblivious import ObliviousTrees, evaluator, raw_scores

HomeWins = NDArray[np.int64]  # 1 the home side won, 0 it lost
WinProbabilities = NDArray[np.float64]  # the home side's win probability per game


@dataclass(frozen=True)
class NbaView:
    """Which columns of NbaFeatures a model reads and which logit it boosts from."""

    name: str
    baseline: Callable[[NDArray[np.float64]], NDArray[np.float64]]  # full matrix -> logits
    columns: tuple[int, ...]  # of NbaFeatures.names(), what the booster sees


_NAMES = NbaFeatures.names()
_MARKET_LOGIT = _NAMES.index("market_logit")
_ELO_GAP = _NAMES.index("elo_gap")
_MARKET_COLUMNS = ("market_home", "market_logit", "market_overround", "elo_minus_market")

MARKET_VIEW = NbaView("moneyline", lambda m: m[:, _MARKET_LOGIT], tuple(range(len(_NAMES))))
"""Boosts from the moneyline's margin-free logit, every feature in view."""
RESULTS_VIEW = NbaView(
    "elo",
    # The Elo win probability 1 / (1 + 10^(-gap/400)) has logit gap * ln(10) / 400.
    lambda m: m[:, _ELO_GAP] * (math.log(10.0) / 400.0),
    tuple(i for i, n in enumerate(_NAMES) if n not in _MARKET_COLUMNS),
)
"""Market-free: boosts from the Elo logit and never sees a price (games without a line)."""


@dataclass(frozen=True)
class NbaModelParameters:
    max_iterations: int = 400
    learning_rate: float = 0.02
    depth: int = 3
    l2_leaf_reg: float = 20.0
    validation_seasons: int = 3
    # A correction is kept only if its pooled validation gain over the line exceeds this many
    # standard errors of the per-game gain (the one-standard-error rule; ADR 0010).
    standard_errors: float = 1.0
    random_seed: int = 20_240_601
    thread_count: int = 1


@dataclass(frozen=True)
class NbaModel:
    booster: Any  # a fitted CatBoostClassifier (untyped library), None when it adds nothing
    trees: int
    validation_gain: float  # pooled validation log loss, baseline minus model (>= 0)
    view: NbaView = field(default=MARKET_VIEW)

    def predict_home(self, rows: Sequence[NbaFeatures]) -> WinProbabilities:
        """Home-win probabilities, one per game, strictly between 0 and 1."""
        matrix = _matrix(rows)
        baseline = self.view.baseline(matrix)
        if self.booster is None:
            return _sigmoid(baseline)
        correction = raw_scores(self.booster, matrix[:, list(self.view.columns)], self._trees)
        return _sigmoid(baseline + correction)

    @cached_property
    def _trees(self) -> ObliviousTrees | None:
        return None if self.booster is None else evaluator(self.booster)


def train_nba_model(
    seasons: Sequence[tuple[Sequence[NbaFeatures], HomeWins]],
    parameters: NbaModelParameters | None = None,
    view: NbaView = MARKET_VIEW,
) -> NbaModel:
    """`seasons` in time order. Each of the last `validation_seasons` is forecast by a model fit
    on the seasons before it. The tree count with the lowest pooled validation log loss is then
    fitted on every season, but only if its gain over the line on those games exceeds
    `standard_errors` standard errors of the per-game gain; otherwise the model is the line
    (or, in the market-free `RESULTS_VIEW`, Elo alone)."""
    p = parameters or NbaModelParameters()
    if len(seasons) <= p.validation_seasons:
        raise ValueError(f"need more than {p.validation_seasons} seasons, got {len(seasons)}")
    pooled = np.zeros(p.max_iterations + 1)  # summed validation log loss after k trees
    folds: list[tuple[Any, Sequence[NbaFeatures], HomeWins]] = []
    for v in range(len(seasons) - p.validation_seasons, len(seasons)):
        rows = [r for rows, _ in seasons[:v] for r in rows]
        outcomes = np.concatenate([o for _, o in seasons[:v]])
        held, held_outcomes = seasons[v]
        sizing = _classifier(p, p.max_iterations)
        sizing.fit(
            _pool(rows, view, outcomes),
            eval_set=_pool(held, view, held_outcomes),
            use_best_model=False,
        )
        curve = np.asarray(sizing.get_evals_result()["validation"]["Logloss"], dtype=np.float64)
        market = home_log_loss(_sigmoid(view.baseline(_matrix(held))), held_outcomes)
        pooled += len(held) * np.concatenate([[market], curve[: p.max_iterations]])
        folds.append((sizing, held, held_outcomes))
    trees = int(np.argmin(pooled))
    gain, standard_error = _paired_gain(folds, trees, view)
    if trees == 0 or gain <= p.standard_errors * standard_error:
        # The baseline unless the correction's validation gain is clear of its own noise.
        return NbaModel(booster=None, trees=0, validation_gain=0.0, view=view)
    final = _classifier(p, trees)
    final.fit(
        _pool(
            [r for rows, _ in seasons for r in rows],
            view,
            np.concatenate([o for _, o in seasons]),
        )
    )
    return NbaModel(booster=final, trees=trees, validation_gain=gain, view=view)


def _paired_gain(
    folds: Sequence[tuple[Any, Sequence[NbaFeatures], HomeWins]], trees: int, view: NbaView
) -> tuple[float, float]:
    """Mean per-game log-loss gain (market minus model after `trees` trees) over every
    validation game, and its standard error."""
    gains: list[NDArray[np.float64]] = []
    for sizing, held, outcomes in folds:
        matrix = _matrix(held)
        baseline = view.baseline(matrix)
        market = _per_game_log_loss(_sigmoid(baseline), outcomes)
        if trees == 0:
            gains.append(np.zeros(len(held)))
            continue
        correction = np.asarray(
            sizing.predict(
                matrix[:, list(view.columns)], prediction_type="RawFormulaVal", ntree_end=trees
            )
        )
        model = _per_game_log_loss(_sigmoid(baseline + correction), outcomes)
        gains.append(market - model)
    pooled = np.concatenate(gains)
    if len(pooled) < 2:
        return float(pooled.mean()), float("inf")
    return float(pooled.mean()), float(pooled.std(ddof=1) / np.sqrt(len(pooled)))


def fit_logistic(
    features: NDArray[np.float64], outcomes: HomeWins, *, ridge: float = 1e-6
) -> tuple[NDArray[np.float64], float]:
    """Logistic regression by Newton's method: (coefficients, intercept)."""
    x = np.hstack([features, np.ones((len(features), 1))])
    y = outcomes.astype(np.float64)
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = _sigmoid(x @ beta)
        gradient = x.T @ (p - y) + ridge * beta
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta[:-1], float(beta[-1])


def _classifier(p: NbaModelParameters, iterations: int) -> CatBoostClassifier:
    return CatBoostClassifier(
        loss_function="Logloss",
        iterations=iterations,
        learning_rate=p.learning_rate,
        depth=p.depth,
        l2_leaf_reg=p.l2_leaf_reg,
        random_seed=p.random_seed,
        thread_count=p.thread_count,
        allow_writing_files=False,
        verbose=False,
    )


def _pool(rows: Sequence[NbaFeatures], view: NbaView, outcomes: HomeWins | None = None) -> Pool:
    matrix = _matrix(rows)
    return Pool(
        data=matrix[:, list(view.columns)],
        label=outcomes,
        baseline=view.baseline(matrix),
        feature_names=[_NAMES[i] for i in view.columns],
    )


def _matrix(rows: Sequence[NbaFeatures]) -> NDArray[np.float64]:
    return np.array([row.as_row() for row in rows], dtype=np.float64)


def home_log_loss(probabilities: WinProbabilities, outcomes: HomeWins) -> float:
    """Mean log loss of the home side's win probabilities (outcome 1: the home side won)."""
    return float(np.mean(_per_game_log_loss(probabilities, outcomes)))


def home_brier_score(probabilities: WinProbabilities, outcomes: HomeWins) -> float:
    """Mean squared error of the home side's win probabilities (half the two-way Brier)."""
    return float(np.mean((probabilities - outcomes) ** 2))


def home_accuracy(probabilities: WinProbabilities, outcomes: HomeWins) -> float:
    """How often the side given more than half the chance won."""
    return float(np.mean((probabilities > 0.5) == (outcomes == 1)))


def home_calibration_error(
    probabilities: WinProbabilities, outcomes: HomeWins, *, bins: int = 10
) -> float:
    """ECE of the home side's win probabilities: equal-width bins, weighted by their counts."""
    which = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if np.any(members):
            gap = float(np.mean(probabilities[members] - outcomes[members]))
            total += float(np.sum(members)) * abs(gap)
    return total / len(probabilities)


def _per_game_log_loss(probabilities: WinProbabilities, outcomes: HomeWins) -> NDArray[np.float64]:
    p = np.clip(probabilities, 1e-15, 1.0 - 1e-15)
    result: NDArray[np.float64] = -(outcomes * np.log(p) + (1.0 - outcomes) * np.log(1.0 - p))
    return result


def _sigmoid(logits: NDArray[np.float64]) -> WinProbabilities:
    result: WinProbabilities = 1.0 / (1.0 + np.exp(-logits))
    return result
