"""Model artifacts through a real JetStream object store: verified by hash, tampering refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields

import numpy as np
import pytest
from nats.aio.client import Client as NATS

from forecasting.football.features import FootballFeatures
from forecasting.football.model import (
    FootballModel,
    FootballModelParameters,
    train_football_model,
)
from infra.connections import connect_nats
from infra.forecasting.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStore,
    content_hash,
)
from infra.forecasting.model_file import dump_model, load_model


def synthetic(n: int, rng: np.random.Generator) -> tuple[list[FootballFeatures], np.ndarray]:
    x = rng.normal(size=(n, len(fields(FootballFeatures))))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=n)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    return [FootballFeatures(*map(float, r)) for r in x], y


@pytest.fixture(scope="module")
def model() -> FootballModel:
    rng = np.random.default_rng(11)
    train, train_y = synthetic(300, rng)
    hold, hold_y = synthetic(100, rng)
    params = FootballModelParameters(max_iterations=30, early_stopping_rounds=10)
    return train_football_model(train, train_y, hold, hold_y, params)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await connect_nats(nats_url, name="test-artifacts")
    yield client
    await client.drain()


async def test_round_trip_gives_the_same_forecasts(
    nc: NATS, unique_name: str, model: FootballModel
) -> None:
    store = ArtifactStore(nc.jetstream(), bucket=unique_name)
    rows, _ = synthetic(20, np.random.default_rng(3))

    data = dump_model(model)
    artifact_hash = await store.put(data)
    loaded = load_model(await store.get(artifact_hash))

    assert artifact_hash == content_hash(data)
    assert await store.put(data) == artifact_hash  # idempotent: same bytes, same name
    assert loaded.calibration == model.calibration
    assert loaded.trees == model.trees
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))


async def test_tampered_bytes_are_refused(nc: NATS, unique_name: str, model: FootballModel) -> None:
    store = ArtifactStore(nc.jetstream(), bucket=unique_name)
    data = dump_model(model)
    artifact_hash = await store.put(data)
    tampered = bytearray(data)
    tampered[-10] ^= 0xFF
    obs = await nc.jetstream().object_store(unique_name)
    await obs.put(artifact_hash, bytes(tampered))  # someone overwrites the object in place

    with pytest.raises(ArtifactIntegrityError, match="bytes were changed") as refused:
        await store.get(artifact_hash)
    assert refused.value.code == "artifact-hash-mismatch"


async def test_an_unknown_hash_is_not_found(nc: NATS, unique_name: str) -> None:
    store = ArtifactStore(nc.jetstream(), bucket=unique_name)
    with pytest.raises(ArtifactNotFoundError):
        await store.get("0" * 64)
    await store.put(b"something")
    with pytest.raises(ArtifactNotFoundError):
        await store.get("0" * 64)
