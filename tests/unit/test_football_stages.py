"""The football model keeps a stage's correction to the market only when its validation gain
beats one standard error; otherwise that stage's forecast is the margin-free market."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest

from domain.odds import Market, QuoteStage
from forecasting.football.features import FeatureBuilder, FootballFeatures
from forecasting.football.from_events import InputTranslator
from forecasting.football.inputs import FixtureAnnounced, OddsClosed, OddsMoved, OddsOpened
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


def test_the_market_features_follow_the_latest_quote() -> None:
    start = datetime(2021, 8, 1, 15, tzinfo=UTC)
    builder = FeatureBuilder()
    builder.apply(FixtureAnnounced("f1", "x/league", "2021-2022", "A", "B", start))
    builder.apply(OddsOpened("f1", 2.0, 3.5, 4.0, start - timedelta(days=3)))
    opening = builder.features("f1")
    builder.apply(OddsMoved("f1", 1.8, 3.6, 4.8, start - timedelta(days=1)))
    moved = builder.features("f1")
    builder.apply(OddsClosed("f1", 1.7, 3.8, 5.2, start - timedelta(minutes=5)))
    closing = builder.features("f1")
    assert opening.market_home < moved.market_home < closing.market_home
    assert moved.market_home == pytest.approx((1 / 1.8) / (1 / 1.8 + 1 / 3.6 + 1 / 4.8))
    assert (opening.market_at_close, moved.market_at_close, closing.market_at_close) == (0, 0, 1)
    # a move after the close does not replace the closing prices
    builder.apply(OddsMoved("f1", 2.5, 3.0, 3.0, start - timedelta(minutes=1)))
    assert builder.features("f1").market_home == closing.market_home


def test_the_translator_makes_later_quotes_moves() -> None:
    translator = InputTranslator()
    fixture, book = uuid4(), uuid4()
    kickoff = datetime(2021, 8, 1, 15, tzinfo=UTC)
    translator.scheduled(
        fixture, sport="football", competition="x", season="s", home="A", away="B", kickoff=kickoff
    )
    translator.book_opened(book, fixture, str(Market.MATCH_RESULT))
    at = kickoff - timedelta(days=2)
    first = translator.quoted(book, None, at, (2.0, 3.5, 4.0))
    later = translator.quoted(book, None, at + timedelta(hours=5), (1.9, 3.5, 4.4))
    close = translator.quoted(book, str(QuoteStage.CLOSING), kickoff, (1.8, 3.6, 4.8))
    assert isinstance(first, OddsOpened)
    assert isinstance(later, OddsMoved)
    assert isinstance(close, OddsClosed)
