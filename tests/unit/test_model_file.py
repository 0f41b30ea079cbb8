"""Model artifacts: the same trained model gives the same bytes, hence the same hash."""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields, replace

import numpy as np
import pytest

from forecasting.football.features import FootballFeatures
from forecasting.football.market_free import (
    MarketFreeParameters,
    ResultsFeatures,
    train_market_free_model,
)
from forecasting.football.model import FootballModelParameters, train_football_model
from infra.forecasting.model_file import LoadedModel, dump_model


def train_once() -> bytes:
    rng = np.random.default_rng(3)
    width = len(fields(FootballFeatures))
    x = rng.normal(size=(400, width))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=400)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [FootballFeatures(*map(float, r)) for r in x]
    params = FootballModelParameters(max_iterations=20, early_stopping_rounds=5)
    return dump_model(train_football_model(rows[:300], y[:300], rows[300:], y[300:], params))


def test_retraining_with_the_same_data_and_seed_gives_the_same_artifact_hash() -> None:
    first = train_once()
    time.sleep(1.1)  # CatBoost records the second training finished in
    second = train_once()
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert (
        LoadedModel.from_bytes(first).artifact_hash == LoadedModel.from_bytes(second).artifact_hash
    )


def test_the_market_free_model_travels_in_the_football_artifact() -> None:
    """Format 3: the results-only model rides with the market model and forecasts as it did
    before it was written; a format-2 file (the same bytes without it) still loads, without
    one; an artifact without it refuses market-free forecasts."""
    rng = np.random.default_rng(4)
    width = len(fields(ResultsFeatures))
    x = rng.normal(size=(400, width))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=400)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [ResultsFeatures(*map(float, r)) for r in x]
    params = MarketFreeParameters(max_iterations=20, early_stopping_rounds=5)
    free = train_market_free_model(rows[:300], y[:300], rows[300:], y[300:], params)
    without = LoadedModel.from_bytes(train_once()).model
    data = dump_model(replace(without, market_free=free))
    assert data.startswith(b"SPORTCAST-MODEL-3\n")
    loaded = LoadedModel.from_bytes(data)
    assert loaded.market_free_id == f"football-market-free-{loaded.artifact_hash[:12]}"
    assert np.array_equal(
        np.array(loaded.predict_market_free(rows[300:])), free.predict_proba(rows[300:])
    )
    assert loaded.model.market_free is not None
    assert loaded.model.market_free.trees == free.trees
    plain = train_once()
    as_format_2 = LoadedModel.from_bytes(
        b"SPORTCAST-MODEL-2\n" + plain[len(b"SPORTCAST-MODEL-3\n") :]
    )
    assert as_format_2.market_free_id is None
    with pytest.raises(ValueError, match="no market-free model"):
        as_format_2.predict_market_free(rows[:1])
