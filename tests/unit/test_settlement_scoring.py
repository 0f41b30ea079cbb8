"""Settled forecasts are scored per forecast with the modelling code's metrics."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.metrics import brier_score, log_loss, ranked_probability_score
from projections.scoring import Unscored, outcome_name, score_all, track_of


def test_each_forecast_scores_as_the_metrics_score_it_alone() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([3, 2, 3], size=40)
    market = rng.dirichlet([3, 2, 3], size=40)
    results = [(int(h), int(a)) for h, a in rng.integers(0, 4, size=(40, 2))]
    forecasts = [
        Unscored(("home", "draw", "away"), p, m) for p, m in zip(probs, market, strict=True)
    ]
    scored = score_all(forecasts, results)
    for i, s in enumerate(scored):
        assert s is not None
        o = np.array([s.outcome])
        assert s.rps == pytest.approx(ranked_probability_score(probs[i : i + 1], o), abs=1e-15)
        assert s.log_loss == pytest.approx(log_loss(probs[i : i + 1], o), abs=1e-15)
        assert s.brier == pytest.approx(brier_score(probs[i : i + 1], o), abs=1e-15)
        assert s.market_rps == pytest.approx(ranked_probability_score(market[i : i + 1], o))
    outcomes = np.array([s.outcome for s in scored if s is not None])
    mean = np.mean([s.rps for s in scored if s is not None])
    assert mean == pytest.approx(ranked_probability_score(probs, outcomes), abs=1e-12)


def test_the_outcome_comes_from_the_score_and_the_forecasts_own_outcomes() -> None:
    assert [outcome_name(2, 1), outcome_name(1, 1), outcome_name(0, 3)] == ["home", "draw", "away"]
    two_way = Unscored(("home", "away"), (0.6, 0.4), (0.5, 0.5))
    three_way = Unscored(("home", "draw", "away"), (0.5, 0.3, 0.2), (0.4, 0.3, 0.3))
    level, won = score_all([two_way, three_way], [(1, 1), (1, 1)])
    assert level is None  # a draw is no outcome of a two-way market: left unscored
    assert won is not None
    assert won.outcome == 1
    away = score_all([two_way], [(80, 99)])[0]
    assert away is not None
    assert away.outcome == 1
    assert away.log_loss == pytest.approx(-np.log(0.4))


def test_triggers_count_in_the_tracks_of_the_public_record() -> None:
    assert track_of("odds-opened") == "odds-open"
    assert track_of("odds-closing") == "close"
    assert track_of("in-match-event") == "in-play"
    assert track_of("odds-moved") == "odds-moved"


def test_a_market_free_forecast_is_scored_without_a_market() -> None:
    quoted = Unscored(("home", "draw", "away"), (0.5, 0.3, 0.2), (0.45, 0.3, 0.25))
    unquoted = Unscored(("home", "draw", "away"), (0.5, 0.3, 0.2), ())
    with_market, without = score_all([quoted, unquoted], [(2, 1), (2, 1)])
    assert with_market is not None
    assert without is not None
    assert (without.rps, without.log_loss) == (with_market.rps, with_market.log_loss)
    assert with_market.market_rps is not None
    assert (without.market_rps, without.market_log_loss, without.market_brier) == (None,) * 3
