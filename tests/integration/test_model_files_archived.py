"""Every model a forecaster loads from a file is in the object store under the hash its
forecasts record, so an auditor can fetch it as they fetch the champion."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from pathlib import Path

import nats
import numpy as np
import pytest

from forecasting.football.features import FootballFeatures
from forecasting.football.model import FootballModelParameters, train_football_model
from forecasting.nba.inplay import NbaInPlayModel, QuarterFit
from forecasting.nba.model import NbaModel
from infra.forecasting.artifacts import ArtifactNotFoundError, ArtifactStore, content_hash
from infra.forecasting.model_file import LoadedModel, dump_model
from infra.forecasting.nba_model_file import dump_nba_models
from infra.forecasting.service import configured_service
from infra.settings import Settings


def football_artifact() -> bytes:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, len(fields(FootballFeatures))))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=300)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [FootballFeatures(*map(float, r)) for r in x]
    params = FootballModelParameters(max_iterations=10, early_stopping_rounds=5)
    return dump_model(train_football_model(rows[:200], y[:200], rows[200:], y[200:], params))


def nba_artifact() -> bytes:
    fits = {q: QuarterFit(1.0, 0.1 * q, 0.05) for q in (1, 2, 3)}
    return dump_nba_models(
        NbaModel(booster=None, trees=0, validation_gain=0.0), NbaInPlayModel(fits)
    )


async def fetched(nats_url: str, bucket: str, artifact_hash: str) -> bytes:
    nc = await nats.connect(nats_url)
    try:
        return await ArtifactStore(nc.jetstream(), bucket=bucket).get(artifact_hash)
    finally:
        await nc.close()


def test_model_files_are_stored_under_their_hash_before_forecasting(
    nats_url: str, unique_name: str, tmp_path: Path
) -> None:
    football, nba = football_artifact(), nba_artifact()
    (tmp_path / "football.model").write_bytes(football)
    (tmp_path / "nba.model").write_bytes(nba)
    settings = Settings(
        model_file=tmp_path / "football.model",
        nba_model_file=tmp_path / "nba.model",
        model_bucket=unique_name,
        stream_name=unique_name,
        forecaster_stream=f"{unique_name}_F",
    )
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    env["NATS_STREAM"] = unique_name
    with pytest.raises(ArtifactNotFoundError):
        asyncio.run(fetched(nats_url, unique_name, content_hash(nba)))
    model = LoadedModel.from_bytes(football)
    service = configured_service(settings, env, model)
    try:
        assert service.forecaster.nba_models is not None
        for data in (football, nba):
            assert asyncio.run(fetched(nats_url, unique_name, content_hash(data))) == data
        assert model.artifact_hash == content_hash(football)
    finally:
        service.forecaster.close()
        service.feeds.close()
