"""NBA model outputs are probabilities; the in-play states follow the quarter scores."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from forecasting.nba.features import NbaFeatures
from forecasting.nba.inplay import NbaQuarterState, quarter_states, train_nba_inplay
from forecasting.nba.inputs import NbaGameResult
from forecasting.nba.model import NbaModelParameters, fit_logistic, train_nba_model


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


def _seasons(
    signal: float, *, seasons: int = 5, games: int = 1_200, seed: int = 3
) -> list[tuple[list[NbaFeatures], NDArray[np.int64]]]:
    """Synthetic seasons: an efficient line, plus rest days that move the true probability by
    `signal` logits per day of rest advantage (0: the line already says everything)."""
    rng = np.random.default_rng(seed)
    names = NbaFeatures.names()
    out = []
    for _ in range(seasons):
        rows, won = [], []
        for _ in range(games):
            logit = float(rng.normal(0.3, 0.8))
            rest = float(rng.integers(0, 4)) - float(rng.integers(0, 4))
            values = dict.fromkeys(names, 0.0)
            values.update(
                market_logit=logit,
                market_home=float(1 / (1 + np.exp(-logit))),
                home_rest_days=max(rest, 0.0),
                away_rest_days=max(-rest, 0.0),
                elo_gap=float(rng.normal()),  # noise
            )
            rows.append(NbaFeatures(**values))
            truth = logit + signal * rest
            won.append(int(rng.uniform() < 1 / (1 + np.exp(-truth))))
        out.append((rows, np.array(won, dtype=np.int64)))
    return out


def test_pregame_model_is_the_line_when_features_only_fit_noise() -> None:
    model = train_nba_model(_seasons(0.0), NbaModelParameters(max_iterations=150))
    assert model.trees == 0
    assert model.booster is None
    rows = _seasons(0.0, seasons=1, games=5, seed=9)[0][0]
    line = 1 / (1 + np.exp(-np.array([r.market_logit for r in rows])))
    assert np.array_equal(model.predict_home(rows), line)


def test_pregame_model_departs_from_the_line_when_a_feature_clearly_pays() -> None:
    model = train_nba_model(_seasons(0.25), NbaModelParameters(max_iterations=150))
    assert model.trees > 0
    assert model.validation_gain > 0


def test_a_stricter_rule_keeps_the_line_for_the_same_gain() -> None:
    seasons = _seasons(0.25)
    strict = train_nba_model(
        seasons, NbaModelParameters(max_iterations=150, standard_errors=1_000.0)
    )
    assert strict.trees == 0
