"""The football model keeps a stage's correction to the market only when its validation gain
beats one standard error; otherwise that stage's forecast is the margin-free market."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.football.features import FootballFeatures
from forecasting.football.model import FootballModelParameters, train_football_model

PARAMETERS = FootballModelParameters(max_iterations=200, early_stopping_rounds=40, thread_count=1)


def rows(
    n: int, seed: int, *, signal: bool, at_close: bool
) -> tuple[list[FootballFeatures], np.ndarray]:
    """Matches whose market says 45/27/28; with `signal`, elo_gap moves the true chances a
    lot and the market ignores it; without, every other column is noise."""
    rng = np.random.default_rng(seed)
    out, outcomes = [], []
    for _ in range(n):
        values = {name: float(rng.normal()) for name in FootballFeatures.names()}
        values.update(market_home=0.45, market_draw=0.27, market_away=0.28)
        values["market_at_close"] = 1.0 if at_close else 0.0
        home = 0.45 + (0.25 * np.tanh(values["elo_gap"]) if signal else 0.0)
        draw = 0.27
        outcome = rng.choice(3, p=[home, draw, 1.0 - home - draw])
        out.append(FootballFeatures(**values))
        outcomes.append(outcome)
    return out, np.array(outcomes, dtype=np.int64)


def test_noise_gives_the_market_and_a_real_edge_is_kept_per_stage() -> None:
    train_open, y_open = rows(1500, 1, signal=True, at_close=False)
    hold_open, yh_open = rows(600, 2, signal=True, at_close=False)
    train_close, y_close = rows(1500, 3, signal=False, at_close=True)
    hold_close, yh_close = rows(600, 4, signal=False, at_close=True)
    model = train_football_model(
        train_open,
        y_open,
        hold_open,
        yh_open,
        PARAMETERS,
        closing=(train_close, y_close, hold_close, yh_close),
    )
    assert model.opening.kept
    assert model.opening.validation_gain > model.opening.standard_error
    assert not model.closing.kept  # noise: its gain does not beat one standard error
    assert model.closing.trees == 0

    test_close, _ = rows(50, 5, signal=False, at_close=True)
    test_open, _ = rows(50, 6, signal=True, at_close=False)
    at_close = model.predict_proba(test_close)
    assert at_close == pytest.approx(np.tile([0.45, 0.27, 0.28], (50, 1)))
    at_open = model.predict_proba(test_open)
    assert not np.allclose(at_open, np.tile([0.45, 0.27, 0.28], (50, 1)))
    mixed = model.predict_proba([test_open[0], test_close[0], test_open[1]])
    assert mixed == pytest.approx(np.vstack([at_open[0], at_close[0], at_open[1]]))


def test_without_closing_rows_the_closing_forecast_is_the_market() -> None:
    train_open, y_open = rows(600, 7, signal=True, at_close=False)
    hold_open, yh_open = rows(300, 8, signal=True, at_close=False)
    model = train_football_model(train_open, y_open, hold_open, yh_open, PARAMETERS)
    assert not model.closing.kept
    test_close, _ = rows(5, 9, signal=True, at_close=True)
    assert model.predict_proba(test_close) == pytest.approx(np.tile([0.45, 0.27, 0.28], (5, 1)))
