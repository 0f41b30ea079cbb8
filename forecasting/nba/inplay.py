"""In-play NBA: the home side's win probability at the end of quarter 1, 2 or 3.

One logistic regression per quarter on (logit of the pre-game probability, home lead in points).
Fitting each quarter apart lets the weight of the lead grow, and the prior's shrink, as the
clock runs down, without assuming a functional form for either. Overtime counts as a home win or
loss like any other ending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecasting.nba.inputs import NbaGameResult
from forecasting.nba.model import HomeWins, WinProbabilities, fit_logistic

QUARTERS = (1, 2, 3)


@dataclass(frozen=True)
class NbaQuarterState:
    quarter: int  # the quarter just finished: 1, 2 or 3
    home_lead: int  # home points minus away points so far
    pregame_home: float  # the pre-game home-win probability

    def __post_init__(self) -> None:
        if self.quarter not in QUARTERS:
            raise ValueError(f"in-play states exist after quarters 1-3, got {self.quarter}")
        if not 0.0 < self.pregame_home < 1.0:
            raise ValueError(f"a probability must lie in (0, 1), got {self.pregame_home}")


def quarter_states(result: NbaGameResult, pregame_home: float) -> list[NbaQuarterState]:
    """The game's state at the end of each of its first three quarters."""
    states: list[NbaQuarterState] = []
    lead = 0
    for quarter in QUARTERS:
        lead += result.home_quarters[quarter - 1] - result.away_quarters[quarter - 1]
        states.append(NbaQuarterState(quarter, lead, pregame_home))
    return states


@dataclass(frozen=True)
class QuarterFit:
    prior_weight: float
    lead_weight: float
    intercept: float


@dataclass(frozen=True)
class NbaInPlayModel:
    fits: dict[int, QuarterFit]

    def predict_home(self, states: Sequence[NbaQuarterState]) -> WinProbabilities:
        out = np.empty(len(states))
        for i, s in enumerate(states):
            f = self.fits[s.quarter]
            z = f.prior_weight * _logit(s.pregame_home) + f.lead_weight * s.home_lead + f.intercept
            out[i] = 1.0 / (1.0 + np.exp(-z))
        return out


def train_nba_inplay(states: Sequence[NbaQuarterState], home_won: HomeWins) -> NbaInPlayModel:
    fits: dict[int, QuarterFit] = {}
    for quarter in QUARTERS:
        index = [i for i, s in enumerate(states) if s.quarter == quarter]
        if not index:
            raise ValueError(f"no training states after quarter {quarter}")
        x: NDArray[np.float64] = np.array(
            [[_logit(states[i].pregame_home), float(states[i].home_lead)] for i in index]
        )
        weights, intercept = fit_logistic(x, home_won[index])
        fits[quarter] = QuarterFit(float(weights[0]), float(weights[1]), intercept)
    return NbaInPlayModel(fits)


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))
