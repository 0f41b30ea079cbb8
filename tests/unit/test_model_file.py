"""Model artifacts: the same trained model gives the same bytes, hence the same hash."""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields

import numpy as np

from forecasting.football.features import FootballFeatures
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
