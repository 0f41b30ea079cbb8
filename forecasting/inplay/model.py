"""In-play football 1X2 (result at the end of regulation) from a match state.

A state is the clock, the score, red cards and the pre-match 1X2. Its structural baseline is a
Poisson model: the pre-match 1X2 is inverted into each side's expected goals, the part still to be
played is scaled by the time left (and by fixed red-card factors), and the final score's
distribution gives H/D/A. CatBoost starts from that baseline's log-probabilities and learns only
the correction (stoppage time, game state, draws the independent Poisson under-rates), then a
temperature fitted on a later holdout calibrates it, as in the pre-match football model.

For World Cup matches there are no odds: `EloPrior` rates teams over earlier World Cup matches
only and maps the Elo expected score to 1X2 with one fitted draw parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from domain.ratings import EloParameters, EloRatings
from forecasting.metrics import Outcomes, Probabilities
from forecasting.oblivious import ObliviousTrees, evaluator
from forecasting.prior_boost import PriorBoost, TemperatureCalibration

REGULATION = 90
SAMPLED_MINUTES = (0, 15, 30, 45, 60, 75, 85)
MAX_GOALS = 20  # per side, in the Poisson sums
DRAW_PEAK = 0.27  # EloPrior's default, for artifacts written before the peak was recorded
# Share of a World Cup Elo rating carried into the pool's next edition (ADR 0013, session 8):
# chosen by log loss, walk-forward by tournament (logit scale and draw peak fitted on the
# earlier matches), on the World Cups of 1970-2001 only, among 0.6/0.7/0.75/0.8/0.85/0.9/1.0
# (k 40 kept). 1.0 (no regression) is what artifacts written before it assumed.
CARRY_OVER = 0.7
# Elo points for a side playing in the country the match is played in (a tournament's host):
# the World Football Elo Ratings' home advantage, and the choice of log loss walk-forward by
# tournament on the World Cups of 1970-2001 only among 0/50/100/150/200 (ADR 0013, session 9).
HOST_ADVANTAGE = 100.0
TRAINED_PRIOR = (CARRY_OVER, HOST_ADVANTAGE)
"""The Elo prior, (carry-over, host advantage), in-play training uses and records."""
KEPT_PRIORS = ((1.0, 0.0), (CARRY_OVER, 0.0), TRAINED_PRIOR)
"""The Elo priors, as (carry-over, host advantage), an in-play artifact may record and the
forecaster keeps (`EloPriors`): format 1 (1.0, 0), format 2 (CARRY_OVER, 0), format 3 what it
records (training writes CARRY_OVER, HOST_ADVANTAGE)."""
# A team's name where the data names its host country otherwise (the 1974 hosts).
_NATION = {"West Germany": "Germany"}
_EDITION_YEAR = re.compile(r"^\d{4}\s+")
# Scoring-rate factors per red card, own side and opponent (Vecer, Kopriva & Ichiba 2009).
RED_OWN, RED_OPPONENT = 0.70, 1.20
FEATURE_NAMES = (
    "minute",
    "home_goals",
    "away_goals",
    "goal_difference",
    "home_reds",
    "away_reds",
    "prior_home",
    "prior_draw",
    "prior_away",
    "base_home",
    "base_draw",
    "base_away",
    "remaining_home_goals",
    "remaining_away_goals",
)


@dataclass(frozen=True)
class TimelineEvent:
    """A goal or a sending-off, as a World Cup timeline records it (stoppage folded into 45/90)."""

    kind: Literal["goal", "sending-off"]
    minute: int  # regulation minute of the label: 45+2 is 45, 90+4 is 90
    home: bool  # the side credited (an own goal counts for the other side)
    extra_time: bool = False


@dataclass(frozen=True)
class MatchState:
    minute: int
    home_goals: int
    away_goals: int
    home_reds: int
    away_reds: int
    prior: tuple[float, float, float]  # pre-match (home, draw, away), margin-free

    def __post_init__(self) -> None:
        if not 0 <= self.minute <= REGULATION:
            raise ValueError(f"minute must lie in 0..{REGULATION}, got {self.minute}")
        if min(self.prior) <= 0.0 or abs(sum(self.prior) - 1.0) > 1e-6:
            raise ValueError(f"the prior must be positive and sum to 1, got {self.prior}")


def state_at(
    timeline: Sequence[TimelineEvent], minute: int, prior: tuple[float, float, float]
) -> MatchState:
    """The state at `minute`:00 of play. A label N' happened during minute N, so it is counted
    from minute N on; first-half stoppage (45+x) is counted at half-time (minute 45)."""
    counts = {("goal", True): 0, ("goal", False): 0, ("sending-off", True): 0}
    counts[("sending-off", False)] = 0
    for event in timeline:
        if not event.extra_time and event.minute <= minute:
            counts[(event.kind, event.home)] += 1
    return MatchState(
        minute=minute,
        home_goals=counts[("goal", True)],
        away_goals=counts[("goal", False)],
        home_reds=counts[("sending-off", True)],
        away_reds=counts[("sending-off", False)],
        prior=prior,
    )


def regulation_outcome(timeline: Sequence[TimelineEvent]) -> int:
    """0 home win, 1 draw, 2 away win after 90 minutes (what a 1X2 market settles on)."""
    final = state_at(timeline, REGULATION, (1 / 3, 1 / 3, 1 / 3))
    diff = final.home_goals - final.away_goals
    return 0 if diff > 0 else 1 if diff == 0 else 2


def feature_matrix(states: Sequence[MatchState]) -> NDArray[np.float64]:
    """One row per state, columns in FEATURE_NAMES order."""
    prior = np.array([s.prior for s in states], dtype=np.float64)
    lam_home, lam_away = expected_goals(prior)
    minute = np.array([s.minute for s in states], dtype=np.float64)
    hg = np.array([s.home_goals for s in states], dtype=np.float64)
    ag = np.array([s.away_goals for s in states], dtype=np.float64)
    hr = np.array([s.home_reds for s in states], dtype=np.float64)
    ar = np.array([s.away_reds for s in states], dtype=np.float64)
    left = (REGULATION - minute) / REGULATION
    rem_home = lam_home * left * RED_OWN**hr * RED_OPPONENT**ar
    rem_away = lam_away * left * RED_OWN**ar * RED_OPPONENT**hr
    base = _outcome_probabilities(rem_home, rem_away, hg - ag)
    return np.column_stack(
        [minute, hg, ag, hg - ag, hr, ar, prior, base, rem_home, rem_away]
    ).astype(np.float64)


def expected_goals(prior: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each side's expected goals whose independent Poisson scores reproduce the prior's home and
    away probabilities (damped Newton on log-rates, all rows at once)."""
    # Start from a 2.6-goal match split by the favourite's edge, which Newton refines.
    edge = np.clip(prior[:, 0] - prior[:, 2], -0.95, 0.95)
    x = np.log(np.column_stack([1.3 * (1.0 + edge) + 0.1, 1.3 * (1.0 - edge) + 0.1]))
    target = prior[:, [0, 2]]
    step = 1e-5
    for _ in range(60):
        now = _home_away(x)
        residual = now - target
        if float(np.max(np.abs(residual), initial=0.0)) < 1e-9:
            break
        d_home = (_home_away(x + np.array([step, 0.0])) - now) / step
        d_away = (_home_away(x + np.array([0.0, step])) - now) / step
        det = d_home[:, 0] * d_away[:, 1] - d_away[:, 0] * d_home[:, 1]
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        dx = (d_away[:, 1] * residual[:, 0] - d_away[:, 0] * residual[:, 1]) / det
        dy = (-d_home[:, 1] * residual[:, 0] + d_home[:, 0] * residual[:, 1]) / det
        x = x - np.clip(np.column_stack([dx, dy]), -0.3, 0.3)
        x = np.clip(x, math.log(0.02), math.log(10.0))
    return np.exp(x[:, 0]), np.exp(x[:, 1])


def _home_away(log_rates: NDArray[np.float64]) -> NDArray[np.float64]:
    p = _outcome_probabilities(np.exp(log_rates[:, 0]), np.exp(log_rates[:, 1]), 0.0)
    return p[:, [0, 2]]


def _outcome_probabilities(
    rate_home: NDArray[np.float64],
    rate_away: NDArray[np.float64],
    lead: NDArray[np.float64] | float,
) -> Probabilities:
    """H/D/A when the home side leads by `lead` and Poisson(rate) goals are still to come."""
    k = np.arange(MAX_GOALS + 1, dtype=np.float64)
    log_fact = np.array([math.lgamma(v + 1.0) for v in k])
    home = np.exp(k * np.log(rate_home[:, None] + 1e-300) - rate_home[:, None] - log_fact)
    away = np.exp(k * np.log(rate_away[:, None] + 1e-300) - rate_away[:, None] - log_fact)
    joint = home[:, :, None] * away[:, None, :]  # [row, home goals to come, away goals to come]
    margin = np.asarray(lead, dtype=np.float64).reshape(-1, 1, 1) + k[None, :, None] - k[None, None]
    out = np.column_stack(
        [
            np.sum(joint * (margin > 0), axis=(1, 2)),
            np.sum(joint * (margin == 0), axis=(1, 2)),
            np.sum(joint * (margin < 0), axis=(1, 2)),
        ]
    )
    result: Probabilities = out / out.sum(axis=1, keepdims=True)
    return result


def pool_of(competition: str) -> str:
    """The Elo pool: the competition without its edition's year."""
    return _EDITION_YEAR.sub("", competition)


class EloPrior:
    """Pre-match 1X2 for matches without odds, from Elo over earlier matches of the same pool.

    A pool is a competition without its edition's year (`pool_of`). The first match of a new
    edition regresses the pool's ratings toward the mean (`carry_over`): four years pass
    between World Cups, and a rating that old over-states the gaps. The expected score E maps
    to draw = peak * 4E(1-E), home = E - draw/2, away = 1 - E - draw/2: proper for any peak in
    (0, 0.5], most drawish between equals."""

    def __init__(
        self,
        draw_peak: float = DRAW_PEAK,
        parameters: EloParameters | None = None,
        carry_over: float = CARRY_OVER,
        host_advantage: float = HOST_ADVANTAGE,
    ) -> None:
        self.draw_peak = draw_peak
        self.carry_over = carry_over
        self.host_advantage = host_advantage
        # Neutral venues, and no newcomer penalty: a debutant at a World Cup is no promoted side.
        self.parameters = parameters or EloParameters(
            k=40.0, home_advantage=0.0, established_after=10**9
        )
        self._pools: dict[str, EloRatings] = {}
        # Competitions seen: a late result of an earlier edition regresses nothing again.
        self._editions: set[str] = set()

    def expected_score(
        self, competition: str, home: str, away: str, venue_country: str | None = None
    ) -> float:
        advantage = self._host(home, away, venue_country)
        return self._pool(competition).expected(home, away, advantage)

    def prior(
        self, competition: str, home: str, away: str, venue_country: str | None = None
    ) -> tuple[float, float, float]:
        expected = self.expected_score(competition, home, away, venue_country)
        return one_x_two(expected, self.draw_peak)

    def update(
        self,
        competition: str,
        home: str,
        away: str,
        home_goals: int,
        away_goals: int,
        venue_country: str | None = None,
    ) -> None:
        advantage = self._host(home, away, venue_country)
        self._pool(competition).update(home, away, home_goals, away_goals, advantage)

    def _host(self, home: str, away: str, venue_country: str | None) -> float:
        """The home side's advantage in Elo points: the host's, for or against it (none at a
        neutral venue, or where the country is not known)."""
        if venue_country is None or self.host_advantage == 0.0:
            return 0.0
        at_home = (_NATION.get(home, home) == venue_country) - (
            _NATION.get(away, away) == venue_country
        )
        return self.host_advantage * at_home

    def _pool(self, competition: str) -> EloRatings:
        pool = pool_of(competition)
        ratings = self._pools.get(pool)
        if ratings is None:
            ratings = self._pools[pool] = EloRatings(self.parameters)
        if competition not in self._editions:
            self._editions.add(competition)
            if self.carry_over != 1.0:  # 1.0: exactly the ratings as they were
                ratings.regress(self.carry_over)
        return ratings


class EloPriors:
    """The Elo prior under each (carry-over, host advantage) an in-play artifact may record
    (`KEPT_PRIORS`), fed the same results, so that a forecaster (or an audit replaying one)
    gives each artifact the expected scores it was trained on."""

    def __init__(self) -> None:
        self._kept = {(c, h): EloPrior(carry_over=c, host_advantage=h) for c, h in KEPT_PRIORS}

    def expected_score(
        self,
        competition: str,
        home: str,
        away: str,
        prior: tuple[float, float],
        venue_country: str | None = None,
    ) -> float:
        """Under `prior`, (carry-over, host advantage)."""
        kept = self._kept.get(prior)
        if kept is None:
            raise ValueError(f"no Elo prior kept with (carry-over, host advantage) {prior}")
        return kept.expected_score(competition, home, away, venue_country)

    def update(
        self,
        competition: str,
        home: str,
        away: str,
        home_goals: int,
        away_goals: int,
        venue_country: str | None = None,
    ) -> None:
        for kept in self._kept.values():
            kept.update(competition, home, away, home_goals, away_goals, venue_country)


def one_x_two(
    expected_score: float, draw_peak: float, scale: float = 1.0
) -> tuple[float, float, float]:
    """The 1X2 of an Elo expected score: first calibrated (`scale` multiplies its logit: < 1
    tempers over-confident ratings), then split with the draw peak."""
    if scale != 1.0:
        e = min(max(expected_score, 1e-9), 1.0 - 1e-9)
        expected_score = 1.0 / (1.0 + math.exp(-scale * math.log(e / (1.0 - e))))
    draw = draw_peak * 4.0 * expected_score * (1.0 - expected_score)
    return (expected_score - draw / 2.0, draw, 1.0 - expected_score - draw / 2.0)


_PEAKS = np.linspace(0.05, 0.5, 91)
# Step 0.01. Up to 3: regressed ratings understate gaps the results then show (fitted scales
# 1.5-2 with CARRY_OVER); below 1.5 the grid is the one used before, so those fits are unchanged.
_SCALES = np.linspace(0.5, 3.0, 251)


def fit_draw_peak(expected_scores: Sequence[float], outcomes: Outcomes) -> float:
    """The draw peak with the lowest log loss on these (earlier) matches; a grid is enough."""
    return float(_PEAKS[int(np.argmin(_peak_losses(np.asarray(expected_scores), outcomes)))])


def fit_elo_prior(
    expected_scores: Sequence[float],
    outcomes: Outcomes,
    weights: NDArray[np.float64] | None = None,
) -> tuple[float, float]:
    """The Elo prior's calibration on these (earlier) matches: the logit scale and draw peak
    with the lowest log loss (grids of 0.01 and 0.005), each match weighted by `weights` if
    given. Returns (scale, draw peak)."""
    e = np.clip(np.asarray(expected_scores, dtype=np.float64), 1e-9, 1.0 - 1e-9)
    logit = np.log(e / (1.0 - e))
    best = (math.inf, 1.0, float(_PEAKS[0]))
    for scale in _SCALES:
        losses = _peak_losses(1.0 / (1.0 + np.exp(-scale * logit)), outcomes, weights)
        i = int(np.argmin(losses))
        if losses[i] < best[0]:
            best = (float(losses[i]), float(scale), float(_PEAKS[i]))
    return best[1], best[2]


def _peak_losses(
    expected: NDArray[np.float64],
    outcomes: Outcomes,
    weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Mean (weighted, if `weights`) log loss of one_x_two(expected, peak) for every peak of
    the grid."""
    draw = _PEAKS[:, None] * 4.0 * expected * (1.0 - expected)
    home, away = expected - draw / 2.0, 1.0 - expected - draw / 2.0
    chosen = np.where(outcomes == 0, home, np.where(outcomes == 1, draw, away))
    losses = -np.log(np.clip(chosen, 1e-12, 1.0))
    if weights is None:
        mean: NDArray[np.float64] = np.mean(losses, axis=1)
        return mean
    weighted: NDArray[np.float64] = losses @ weights / np.sum(weights)
    return weighted


@dataclass(frozen=True)
class InPlayParameters:
    max_iterations: int = 1500
    learning_rate: float = 0.03
    depth: int = 4
    l2_leaf_reg: float = 10.0
    early_stopping_rounds: int = 150
    random_seed: int = 20_240_601
    thread_count: int = 1


@dataclass(frozen=True)
class InPlayModel:
    booster: Any  # a fitted CatBoostClassifier (untyped library)
    calibration: TemperatureCalibration
    trees: int
    draw_peak: float = DRAW_PEAK
    """The Elo prior's draw peak fitted with it: the market-free prior of matches nobody
    quoted (EloPrior, one_x_two)."""
    elo_scale: float = 1.0
    """The Elo prior's logit scale fitted with the peak (fit_elo_prior); 1 for artifacts
    written before it was."""
    elo_carry_over: float = 1.0
    """The carry-over of the Elo prior it was trained on (EloPrior); 1 for artifacts written
    before it was recorded."""
    elo_host_advantage: float = 0.0
    """The host advantage of the Elo prior it was trained on (EloPrior); 0 for artifacts
    written before it was recorded."""

    @property
    def elo_prior(self) -> tuple[float, float]:
        """(carry-over, host advantage): which of `KEPT_PRIORS` it was trained on."""
        return (self.elo_carry_over, self.elo_host_advantage)

    def predict_proba(self, states: Sequence[MatchState]) -> Probabilities:
        """Calibrated (home, draw, away) at the end of regulation; rows sum to 1."""
        return self.predict_rows(feature_matrix(states))

    def predict_rows(self, matrix: NDArray[np.float64]) -> Probabilities:
        """As :meth:`predict_proba`, from rows already made (FEATURE_NAMES order): each row's
        probabilities depend on that row alone, whatever else is in the call."""
        return self.calibration.apply(
            _ON_BASELINE.predict_uncalibrated(self.booster, matrix, self._trees)
        )

    @cached_property
    def _trees(self) -> ObliviousTrees | None:
        return evaluator(self.booster)


def baseline_proba(states: Sequence[MatchState]) -> Probabilities:
    """The Poisson baseline alone (no learning beyond the prior)."""
    result: Probabilities = feature_matrix(states)[:, _BASE]
    return result


def train_inplay_model(
    training: Sequence[MatchState],
    training_outcomes: Outcomes,
    holdout: Sequence[MatchState],
    holdout_outcomes: Outcomes,
    parameters: InPlayParameters | None = None,
) -> InPlayModel:
    """Fit on `training`, size and calibrate on `holdout` (later in time), refit on both."""
    booster, calibration, trees = _ON_BASELINE.fit(
        feature_matrix(training),
        training_outcomes,
        feature_matrix(holdout),
        holdout_outcomes,
        parameters or InPlayParameters(),
    )
    return InPlayModel(booster=booster, calibration=calibration, trees=trees)


_BASE = [FEATURE_NAMES.index(n) for n in ("base_home", "base_draw", "base_away")]
_ON_BASELINE = PriorBoost(prior_columns=_BASE, feature_names=FEATURE_NAMES)
