"""Team attack and defence strengths from goals alone: a time-decayed Poisson model.

Dixon & Coles (1997): home goals ~ Poisson(exp(mu + home + att_h - def_a)) and away goals ~
Poisson(exp(mu + att_a - def_h)), every earlier match of the competition weighted by
exp(-decay x its age in days), so recent form counts more than last season's. The strengths
are fitted as independent Poissons; the low-score term (rho) enters the 1X2 probabilities
(`outcome_probabilities`), rho fixed from the training seasons. A ridge pulls teams toward a
prior: the league average, or, in an established competition, a newcomer's weaker prior
(promoted sides are weaker), and it makes the fit well posed for a team with one match.

Fitting is a weighted Poisson regression solved by Newton's method, refitted lazily when asked
for a forecast after new results, or at once when a result arrives (`refresh`, what the live
forecaster does: a fit costs milliseconds, which a forecast should not wait for). The fit is a
pure function of the results recorded (their order included): ages are counted from the latest
result, and Newton starts from the prior every time, so a forecaster that rebuilt its state
after a restart fits exactly what an uninterrupted one did, whenever either was asked. Plain
mutable state, no I/O; one instance holds one competition.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class GoalRatingParameters:
    # Chosen by rolling origin on the training seasons 2013-14..2017-18 only (each match
    # forecast from the results before its odds opened; RPS of the Poisson 1X2; ADR 0013):
    # decay among 0.001/0.0019/0.003/0.005/0.008, ridge among 1/2/4/6/8, the newcomer's
    # prior among 0/-0.15/-0.3/-0.45. Dixon-Coles' xi = 0.0065 per half week is about 0.0019
    # a day (a half-life of a year), and won.
    decay_per_day: float = 0.0019
    window_days: float = 3 * 365.0  # older matches weigh under 13% and are dropped
    ridge: float = 6.0  # in matches' worth of evidence per parameter
    established_after: int = 100  # matches rated before a newcomer counts as promoted
    newcomer_attack: float = -0.3
    newcomer_defence: float = -0.3
    newton_steps: int = 12
    tolerance: float = 1e-10
    # Dixon-Coles's low-score dependence: the maximum-likelihood rho of the fitted rates over
    # the training seasons 2013-14..2017-18 (every league) was -0.046 (ADR 0013).
    low_score_rho: float = -0.05


class GoalRatings:
    """One competition's time-decayed Poisson strengths."""

    def __init__(self, parameters: GoalRatingParameters | None = None) -> None:
        self.parameters = parameters or GoalRatingParameters()
        self._teams: dict[str, int] = {}
        self._prior_attack: list[float] = []
        self._prior_defence: list[float] = []
        # Results in arrival order: day (since the epoch), home, away, goals; the first
        # `_first` are older than the window and no longer fitted.
        self._days: list[float] = []
        self._home: list[int] = []
        self._away: list[int] = []
        self._goals: list[tuple[int, int]] = []
        # The same columns as arrays, made for the fits (extended by the results since the last).
        self._columns = _Columns()
        self._first = 0
        self._latest_day = -math.inf
        self._fitted = -1  # how many results the current strengths were fitted on
        # mu, home, attack per team, defence per team
        self._theta: NDArray[np.float64] = np.array([0.25, 0.25])

    @property
    def results(self) -> int:
        return len(self._days)

    def record(self, home: str, away: str, home_goals: int, away_goals: int, at: datetime) -> None:
        """A finished match, known from `at` (its kick-off)."""
        if home_goals < 0 or away_goals < 0:
            raise ValueError(f"goals cannot be negative: {home_goals}-{away_goals}")
        self._days.append(_day(at))
        self._latest_day = max(self._latest_day, self._days[-1])
        self._home.append(self._team(home))
        self._away.append(self._team(away))
        self._goals.append((home_goals, away_goals))

    @property
    def up_to_date(self) -> bool:
        """Whether the strengths are fitted on every result recorded."""
        return self._fitted == len(self._days) or not self._days

    def refresh(self) -> None:
        """Fit now on the results recorded, if not yet: a live forecaster calls this when a
        result arrives, so the next quote's forecast finds the strengths fitted. The fit is a
        pure function of the results, so when it runs changes nothing it gives."""
        self._fit()

    def expected_goals(self, home: str, away: str, at: datetime) -> tuple[float, float]:
        """Home and away expected goals for a match at `at`, from results recorded so far
        (weighted by their age when the latest of them was played)."""
        del at  # strengths change between results only, not with the asking fixture's date
        theta = self._fit()
        mu, advantage = float(theta[0]), float(theta[1])
        att_h, def_h = self._strengths(theta, home)
        att_a, def_a = self._strengths(theta, away)
        return math.exp(mu + advantage + att_h - def_a), math.exp(mu + att_a - def_h)

    def _strengths(self, theta: NDArray[np.float64], team: str) -> tuple[float, float]:
        index = self._teams.get(team)
        if index is None:
            return self._newcomer()
        n = len(self._teams)
        return float(theta[2 + index]), float(theta[2 + n + index])

    def _newcomer(self) -> tuple[float, float]:
        p = self.parameters
        if len(self._days) >= p.established_after:
            return p.newcomer_attack, p.newcomer_defence
        return 0.0, 0.0

    def _team(self, name: str) -> int:
        index = self._teams.get(name)
        if index is None:
            index = len(self._teams)
            self._teams[name] = index
            attack, defence = self._newcomer()
            self._prior_attack.append(attack)
            self._prior_defence.append(defence)
            n = len(self._teams)
            old = self._theta
            theta = np.zeros(2 + 2 * n)
            theta[:2] = old[:2]
            theta[2 : 2 + n - 1] = old[2 : 2 + n - 1]
            theta[2 + n : 2 + 2 * n - 1] = old[2 + n - 1 :]
            theta[2 + n - 1], theta[2 + 2 * n - 1] = attack, defence
            self._theta = theta
        return index

    def _fit(self) -> NDArray[np.float64]:
        """The strengths as of the latest result, refitted when results came in since."""
        if self.up_to_date:
            return self._theta
        p = self.parameters
        today = self._latest_day
        while self._first < len(self._days) and today - self._days[self._first] > p.window_days:
            self._first += 1
        first = self._first
        if first == len(self._days):
            return self._theta
        columns = self._columns
        columns.extend(self._days, self._home, self._away, self._goals)
        age = np.maximum(today - columns.days[first:], 0.0)
        weight = np.exp(-p.decay_per_day * age)
        n = len(self._teams)
        size = 2 + 2 * n
        home = columns.home[first:]
        away = columns.away[first:]
        # Two observations per match (home goals, away goals). Each touches the intercept, the
        # home advantage (home goals only), its scorer's attack and its opponent's defence
        # (with a minus sign), so the Hessian is a few sums by team and by (attack, defence).
        attack = np.concatenate([home, away])
        defence = np.concatenate([away, home])
        at_home = np.concatenate([np.ones(len(home)), np.zeros(len(away))])
        scored = columns.goals[first:]
        goals = np.concatenate([scored[:, 0], scored[:, 1]])
        w = np.concatenate([weight, weight])
        prior = np.concatenate([[0.0, 0.0], self._prior_attack, self._prior_defence])
        penalty = np.full(size, p.ridge)
        penalty[:2] = 1e-6  # the intercept and home advantage are not shrunk
        pair = attack * n + defence
        att, dfc = slice(2, 2 + n), slice(2 + n, 2 + 2 * n)
        upper, strict_upper = _upper_masks(size)
        # The attack-attack and defence-defence blocks are diagonal: their flat positions.
        attack_diagonal = np.arange(2, 2 + n) * (size + 1)
        defence_diagonal = attack_diagonal + n * (size + 1)
        diagonal = np.arange(size) * (size + 1)
        low, high = np.array(-10.0), np.array(5.0)
        theta = prior.copy()
        theta[:2] = (0.25, 0.25)  # about log 1.3 goals, and a quarter more at home
        for _ in range(p.newton_steps):
            eta = theta[0] + theta[1] * at_home + theta[2 + attack] - theta[2 + n + defence]
            # np.clip's values, without its wrapper's checks (this loop runs per result).
            rate = np.exp(np.minimum(np.maximum(eta, low, out=eta), high, out=eta), out=eta)
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
            # np.triu(h) + np.triu(h, 1).T, with the triangles' masks made once per size.
            symmetric = np.where(upper, hessian, 0.0)
            symmetric += np.where(strict_upper, hessian, 0.0).T
            hessian = symmetric
            flat = hessian.reshape(-1)  # a view: C-contiguous
            flat[attack_diagonal] = by_attack  # the rest of both blocks is already zero
            flat[defence_diagonal] = by_defence
            flat[diagonal] += penalty
            step = np.linalg.solve(hessian, gradient)
            theta += step
            if float(np.max(np.abs(step))) < p.tolerance:
                break
        self._theta = theta
        self._fitted = len(self._days)
        return theta


class _Columns:
    """The results as arrays (what np.array of each list gives), extended as results come."""

    def __init__(self) -> None:
        self.days: NDArray[np.float64] = np.empty(0)
        self.home: NDArray[np.int_] = np.empty(0, dtype=np.int_)
        self.away: NDArray[np.int_] = np.empty(0, dtype=np.int_)
        self.goals: NDArray[np.float64] = np.empty((0, 2))

    def extend(
        self,
        days: list[float],
        home: list[int],
        away: list[int],
        goals: list[tuple[int, int]],
    ) -> None:
        done = len(self.days)
        if done == len(days):
            return
        self.days = np.concatenate([self.days, np.array(days[done:])])
        self.home = np.concatenate([self.home, np.array(home[done:], dtype=np.int_)])
        self.away = np.concatenate([self.away, np.array(away[done:], dtype=np.int_)])
        self.goals = np.concatenate([self.goals, np.array(goals[done:], dtype=np.float64)])


@functools.cache
def _upper_masks(size: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Where np.triu(m) and np.triu(m, 1) keep a size x size matrix's entries."""
    return ~np.tri(size, size, -1, dtype=bool), ~np.tri(size, size, 0, dtype=bool)


@functools.cache
def _lower_mask(size: int) -> NDArray[np.bool_]:
    """Where np.tril(m, -1) keeps a size x size matrix's entries."""
    return np.tri(size, size, -1, dtype=bool)


_LOG_FACTORIAL = np.array([math.lgamma(v + 1.0) for v in range(41)])


def _day(at: datetime) -> float:
    return at.timestamp() / 86400.0


def outcome_probabilities(
    home_rate: float, away_rate: float, *, rho: float = 0.0, max_goals: int = 12
) -> tuple[float, float, float]:
    """(home win, draw, away win) when the two sides' goals are Poissons, independent but for
    Dixon & Coles's low-score term: the 0-0, 1-0, 0-1 and 1-1 cells are scaled by
    tau(rho) (rho < 0: more 0-0 and 1-1 draws, fewer 1-0 and 0-1 results; 0: independent)."""
    k = np.arange(max_goals + 1, dtype=np.float64)
    home = np.exp(k * math.log(home_rate) - home_rate - _LOG_FACTORIAL[: max_goals + 1])
    away = np.exp(k * math.log(away_rate) - away_rate - _LOG_FACTORIAL[: max_goals + 1])
    joint = np.outer(home, away)
    if rho:
        joint[0, 0] *= 1.0 - home_rate * away_rate * rho
        joint[0, 1] *= 1.0 + home_rate * rho
        joint[1, 0] *= 1.0 + away_rate * rho
        joint[1, 1] *= 1.0 - rho
    total = float(joint.sum())
    draw = float(np.trace(joint)) / total
    # np.tril(joint, -1), its mask made once per size (this runs for every forecast).
    home_win = float(np.where(_lower_mask(max_goals + 1), joint, 0.0).sum()) / total
    return home_win, draw, 1.0 - home_win - draw
