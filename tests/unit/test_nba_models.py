"""NBA model outputs are probabilities; the in-play states follow the quarter scores."""

from __future__ import annotations

import numpy as np
import pytest

from commands.forecasting.nba_inplay import NbaQuarterState, quarter_states, train_nba_inplay
from commands.forecasting.nba_inputs import NbaGameResult
from commands.forecasting.nba_model import fit_logistic


def test_quarter_states_accumulate_the_lead() -> None:
    result = NbaGameResult("g", 106, 97, (29, 30, 22, 25), (26, 23, 28, 20))
    states = quarter_states(result, 0.8)
    assert [(s.quarter, s.home_lead) for s in states] == [(1, 3), (2, 10), (3, 4)]


def test_inplay_probabilities_lie_in_unit_interval_and_grow_with_the_lead() -> None:
    rng = np.random.default_rng(5)
    states: list[NbaQuarterState] = []
    won: list[int] = []
    for _ in range(600):
        prior = float(rng.uniform(0.2, 0.8))
        strength = np.log(prior / (1 - prior))
        leads = np.cumsum(rng.normal(strength, 6.0, size=3)).round().astype(int)
        final = leads[-1] + rng.normal(strength / 3, 6.0)
        for q in (1, 2, 3):
            states.append(NbaQuarterState(q, int(leads[q - 1]), prior))
        won.extend([int(final > 0)] * 3)
    model = train_nba_inplay(states, np.array(won, dtype=np.int64))
    probe = [NbaQuarterState(3, lead, 0.5) for lead in (-10, 0, 10)]
    p = model.predict_home(probe)
    assert np.all((p > 0) & (p < 1))
    assert p[0] < p[1] < p[2]


def test_logistic_fit_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, 1))
    y = (rng.uniform(size=20_000) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - 0.3)))).astype(np.int64)
    weights, intercept = fit_logistic(x, y)
    assert weights[0] == pytest.approx(1.5, abs=0.1)
    assert intercept == pytest.approx(-0.3, abs=0.1)


def test_quarter_state_rejects_improper_prior() -> None:
    with pytest.raises(ValueError):
        NbaQuarterState(2, 5, 1.0)
