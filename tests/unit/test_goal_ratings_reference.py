"""The goal ratings' fit and 1X2 cells against a plain reference, bit for bit.

`GoalRatings._fit` and `outcome_probabilities` run for every result and every forecast, so they
are written for speed (arrays kept between fits, triangle masks made once). Forecasts are
re-derived bit for bit by the audit, so the fast code must give exactly the bytes of the plain
textbook code below (the code they replaced), not merely close values.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from forecasting.football.goal_ratings import GoalRatings, outcome_probabilities

START = datetime(2014, 8, 1, 15, tzinfo=UTC)


def _reference_fit(ratings: GoalRatings) -> NDArray[np.float64]:
    """Newton's method on the weighted Poisson likelihood, every array built afresh."""
    p = ratings.parameters
    days, first = ratings._days, ratings._first
    today = max(days)
    age = np.maximum(today - np.array(days[first:]), 0.0)
    weight = np.exp(-p.decay_per_day * age)
    n = len(ratings._teams)
    size = 2 + 2 * n
    home, away = np.array(ratings._home[first:]), np.array(ratings._away[first:])
    attack, defence = np.concatenate([home, away]), np.concatenate([away, home])
    at_home = np.concatenate([np.ones(len(home)), np.zeros(len(away))])
    scored = np.array(ratings._goals[first:], dtype=np.float64)
    goals = np.concatenate([scored[:, 0], scored[:, 1]])
    w = np.concatenate([weight, weight])
    prior = np.concatenate([[0.0, 0.0], ratings._prior_attack, ratings._prior_defence])
    penalty = np.full(size, p.ridge)
    penalty[:2] = 1e-6
    pair = attack * n + defence
    att, dfc = slice(2, 2 + n), slice(2 + n, 2 + 2 * n)
    theta = prior.copy()
    theta[:2] = (0.25, 0.25)
    for _ in range(p.newton_steps):
        eta = theta[0] + theta[1] * at_home + theta[2 + attack] - theta[2 + n + defence]
        rate = np.exp(np.clip(eta, -10.0, 5.0))
        residual = w * (goals - rate)
        c = w * rate
        ch = c * at_home
        gradient = np.empty(size)
        gradient[0], gradient[1] = residual.sum(), (residual * at_home).sum()
        gradient[att] = np.bincount(attack, residual, n)
        gradient[dfc] = -np.bincount(defence, residual, n)
        gradient -= penalty * (theta - prior)
        by_attack, by_defence = np.bincount(attack, c, n), np.bincount(defence, c, n)
        hessian = np.zeros((size, size))
        hessian[0, 0], hessian[0, 1] = c.sum(), ch.sum()
        hessian[1, 1] = hessian[0, 1]
        hessian[0, att], hessian[0, dfc] = by_attack, -by_defence
        hessian[1, att] = np.bincount(attack, ch, n)
        hessian[1, dfc] = -np.bincount(defence, ch, n)
        hessian[att, dfc] = -np.bincount(pair, c, n * n).reshape(n, n)
        hessian = np.triu(hessian) + np.triu(hessian, 1).T
        hessian[att, att] = np.diag(by_attack)
        hessian[dfc, dfc] = np.diag(by_defence)
        hessian[np.diag_indices(size)] += penalty
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if float(np.max(np.abs(step))) < p.tolerance:
            break
    return theta


def _reference_outcomes(home_rate: float, away_rate: float, rho: float) -> tuple[float, ...]:
    k = np.arange(13, dtype=np.float64)
    log_factorial = np.array([math.lgamma(v + 1.0) for v in range(13)])
    home = np.exp(k * math.log(home_rate) - home_rate - log_factorial)
    away = np.exp(k * math.log(away_rate) - away_rate - log_factorial)
    joint = np.outer(home, away)
    joint[0, 0] *= 1.0 - home_rate * away_rate * rho
    joint[0, 1] *= 1.0 + home_rate * rho
    joint[1, 0] *= 1.0 + away_rate * rho
    joint[1, 1] *= 1.0 - rho
    total = float(joint.sum())
    draw = float(np.trace(joint)) / total
    home_win = float(np.tril(joint, -1).sum()) / total
    return home_win, draw, 1.0 - home_win - draw


def test_every_fit_equals_the_reference_bit_for_bit() -> None:
    """Four seasons of a league whose teams come and go (newcomers, results leaving the
    window), fitted after every result as the live forecaster does."""
    rng = np.random.default_rng(5)
    ratings = GoalRatings()
    teams = [f"t{i}" for i in range(26)]
    fits = 0
    for k in range(4 * 190):
        season = k // 190
        playing = teams[season * 2 : season * 2 + 20]  # two sides replaced each season
        h, a = rng.choice(len(playing), 2, replace=False)
        at = START + timedelta(days=season * 365 + (k % 190) * 1.5)
        ratings.record(playing[h], playing[a], int(rng.poisson(1.5)), int(rng.poisson(1.1)), at)
        if k % 3 == 0 or k > 700:  # sometimes several results per fit, as when fitted lazily
            ratings.refresh()
            assert ratings._theta.tobytes() == _reference_fit(ratings).tobytes(), k
            fits += 1
    assert ratings._first > 0  # the window moved: old results left the fit
    assert fits > 250


def test_outcome_probabilities_equal_the_reference_bit_for_bit() -> None:
    rng = np.random.default_rng(9)
    for _ in range(2000):
        home_rate, away_rate = rng.uniform(0.05, 5.0, 2)
        rho = float(rng.choice([-0.05, 0.0, rng.uniform(-0.2, 0.2)]))
        ours = outcome_probabilities(float(home_rate), float(away_rate), rho=rho)
        assert ours == _reference_outcomes(float(home_rate), float(away_rate), rho)
