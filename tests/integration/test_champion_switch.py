"""The forecaster follows the champion: a promotion switches its model between two events."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import UTC, datetime

import nats
import numpy as np

from commands.forecasting.features import FootballFeatures
from commands.forecasting.football_model import FootballModelParameters, train_football_model
from commands.forecasting.forecaster import Forecaster
from commands.model_registry import ModelRecord, ModelRegistry
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.champion import ChampionWatch
from infra.forecasting.model_file import dump_model


def tiny_model(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    width = len(fields(FootballFeatures))
    x = rng.normal(size=(400, width))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=400)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [FootballFeatures(*map(float, r)) for r in x]
    params = FootballModelParameters(max_iterations=20, early_stopping_rounds=5, random_seed=seed)
    return dump_model(train_football_model(rows[:300], y[:300], rows[300:], y[300:], params))


def record(artifact_hash: str, rps: float) -> ModelRecord:
    return ModelRecord(
        artifact_hash=artifact_hash,
        cutoff_position=100,
        first_kickoff=datetime(2016, 8, 1, tzinfo=UTC),
        last_kickoff=datetime(2017, 5, 28, tzinfo=UTC),
        seasons=["2016-2017"],
        holdout_season="2016-2017",
        holdout_fingerprint="same-holdout",
        hyperparameters={"depth": 4},
        library_versions={"catboost": "test"},
        holdout_metrics={"rps": rps, "log_loss": 0.98, "ece": 0.01, "opening_rps": 0.2},
        training_seconds=1.0,
    )


async def put(nats_url: str, bucket: str, data: bytes) -> str:
    nc = await nats.connect(nats_url)
    try:
        return await ArtifactStore(nc.jetstream(), bucket=bucket).put(data)
    finally:
        await nc.close()


def test_promotion_switches_the_running_forecaster_to_the_new_champion(
    nats_url: str, unique_name: str
) -> None:
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    registry = ModelRegistry({**env, "MODELREGISTRY_NATS_STREAM": unique_name + "_R"})
    forecaster = Forecaster({**env, "FORECASTER_NATS_STREAM": unique_name + "_F"})
    bucket = unique_name + "_M"
    watch = ChampionWatch(forecaster, registry, nats_url=nats_url, bucket=bucket, every=0.1)
    try:
        assert watch.check() is False  # no champion yet: nothing to switch to
        first = registry.register(record(asyncio.run(put(nats_url, bucket, tiny_model(1))), 0.20))
        registry.promote(first.model_id)
        assert watch.check() is True
        assert forecaster.model is not None
        assert forecaster.model.model_id == first.model_id
        assert watch.check() is False  # already on the champion

        better = asyncio.run(put(nats_url, bucket, tiny_model(2)))
        second = registry.register(record(better, 0.19))
        registry.promote(second.model_id)
        assert watch.check() is True
        assert forecaster.model.model_id == second.model_id
        assert forecaster.model.artifact_hash == better
    finally:
        forecaster.close()
        registry.close()
