"""The forecaster follows the champion: a promotion switches its model between two events and
re-issues the upcoming fixtures' forecasts with it, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import numpy as np
import pytest
from eventsourcing.utils import get_topic

import commands.forecasting.forecaster as forecaster_module
from commands.forecasting.forecaster import MODEL_PROMOTED, Forecaster
from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRecord, ModelRegistry
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.forecast import FixtureForecasts
from domain.model_registry import FOOTBALL_1X2, FOOTBALL_INPLAY, NBA, ChallengerWorse
from domain.provenance import Provenance
from forecasting.football.features import FootballFeatures
from forecasting.football.model import FootballModelParameters, train_football_model
from forecasting.nba.inplay import NbaInPlayModel, QuarterFit
from forecasting.nba.model import NbaModel
from infra.bootstrap import running_forecaster
from infra.feeds.replay import Replay
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.champion import ChampionWatch, fetch_champion
from infra.forecasting.lifecycle import promote, registry_env
from infra.forecasting.model_file import (
    LoadedModel,
    dump_inplay_model,
    dump_model,
    load_inplay_model,
)
from infra.forecasting.nba_model_file import dump_nba_models
from infra.forecasting.service import ForecasterService, forecaster_env
from infra.forecasting.serving import ArtifactNotServableError
from infra.settings import Settings
from tests.small_models import small_inplay_model


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


def football_champion(registry: ModelRegistry, nats_url: str, bucket: str) -> LoadedModel | None:
    model = fetch_champion(registry, nats_url, bucket)
    assert model is None or isinstance(model, LoadedModel)
    return model


async def put(nats_url: str, bucket: str, data: bytes) -> str:
    nc = await nats.connect(nats_url)
    try:
        return await ArtifactStore(nc.jetstream(), bucket=bucket).put(data)
    finally:
        await nc.close()


def test_promotion_switches_the_running_forecaster_to_the_new_champion(
    nats_url: str, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sportcast.models")
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
        # Each switch is logged for its kind, naming the model and the one it replaced.
        switches = [r.getMessage() for r in caplog.records if "switched" in r.getMessage()]
        assert len(switches) == 2
        assert switches[0].startswith(
            f"forecaster switched football-1x2 champion: {first.model_id}"
        )
        assert "after artifact none," in switches[0]
        assert switches[1].startswith(
            f"forecaster switched football-1x2 champion: {second.model_id} (artifact {better[:12]})"
        )
        assert f"after artifact {first.artifact_hash[:12]}" in switches[1]
    finally:
        forecaster.close()
        registry.close()


DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
# The feed stops here: fixtures kicking off later have forecasts but have not started.
FEED_UNTIL = datetime(2016, 3, 12, 12, tzinfo=UTC)


@pytest.fixture
def feed(nats_url: str, unique_name: str) -> dict[str, str]:
    if not DATA.exists():
        pytest.skip(f"datasets not found at {DATA}")
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    env["NATS_STREAM"] = unique_name
    app = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    replay = Replay(DATA, since=date(2016, 3, 5), until=date(2016, 3, 14))
    for message in replay.messages("football"):
        if message.at < FEED_UNTIL:
            with contextlib.suppress(DomainError):  # impossible prices are refused
                app.handle(message.build(message.key, received))
    app.close()
    return env


def started_fixtures(env: dict[str, str]) -> set[UUID]:
    app = FeedIngestion(env)
    try:
        return {
            n.originator_id
            for n in app.recorder.select_notifications(
                start=1, limit=1_000_000, topics=[get_topic(Fixture.Started)]
            )
            if isinstance(n.originator_id, UUID)
        }
    finally:
        app.close()


def forecasts(env: dict[str, str], stream: str) -> list[FixtureForecasts.ForecastIssued]:
    reader = Forecaster(forecaster_env(env, stream))
    try:
        out = []
        for n in reader.recorder.select_notifications(start=1, limit=1_000_000):
            event = reader.mapper.to_domain_event(n)
            if isinstance(event, FixtureForecasts.ForecastIssued):
                out.append(event)
        return out
    finally:
        reader.close()


def following(env: dict[str, str], stream: str, model: LoadedModel | None) -> ForecasterService:
    service = ForecasterService(env, stream, model)
    service.start()
    head = service.feeds.recorder.max_notification_id() or 0
    deadline = time.monotonic() + 120
    while service.position < head:
        assert service.failure is None, service.failure
        assert time.monotonic() < deadline, "the forecaster did not catch up"
        time.sleep(0.05)
    return service


def promoted(registry: ModelRegistry, nats_url: str, bucket: str, seed: int, rps: float) -> str:
    model = registry.register(record(asyncio.run(put(nats_url, bucket, tiny_model(seed))), rps))
    registry.promote(model.model_id)
    return model.model_id


def test_a_promotion_reissues_each_upcoming_forecast_once_even_across_restarts(
    feed: dict[str, str], nats_url: str, unique_name: str
) -> None:
    registry = ModelRegistry({**feed, "MODELREGISTRY_NATS_STREAM": unique_name + "_R"})
    bucket, stream = unique_name + "_M", unique_name + "_F"
    first = promoted(registry, nats_url, bucket, seed=1, rps=0.20)
    service = following(feed, stream, football_champion(registry, nats_url, bucket))
    watch = ChampionWatch(service.forecaster, registry, nats_url=nats_url, bucket=bucket)
    try:
        # The first promotion is acted on, but every forecast is already the champion's.
        assert watch.check() is True
        issued = forecasts(feed, stream)
        assert {f.model_id for f in issued} == {first}
        upcoming = {f.fixture_id for f in issued} - started_fixtures(feed)
        assert len(upcoming) >= 5  # (and so some forecasts were issued)
        assert watch.check() is False

        second = promoted(registry, nats_url, bucket, seed=2, rps=0.19)
        assert watch.check() is True
        reissued = forecasts(feed, stream)[len(issued) :]
        assert sorted(f.fixture_id for f in reissued) == sorted(upcoming)  # one each, no other
        head = service.feeds.recorder.max_notification_id()
        for f in reissued:
            assert (f.trigger, f.model_id, f.as_of_position) == (MODEL_PROMOTED, second, head)
            assert f.input_notification_ids[-1] == head
        assert watch.check() is False
    finally:
        service.stop()

    # Promoted while the forecaster is down: acted on once, at the next start, not again.
    third = promoted(registry, nats_url, bucket, seed=3, rps=0.18)
    before = len(forecasts(feed, stream))
    for restart in range(2):
        service = following(feed, stream, football_champion(registry, nats_url, bucket))
        watch = ChampionWatch(service.forecaster, registry, nats_url=nats_url, bucket=bucket)
        try:
            assert watch.check() is (restart == 0)
        finally:
            service.stop()
    again = forecasts(feed, stream)[before:]
    assert sorted(f.fixture_id for f in again) == sorted(upcoming)
    assert {(f.trigger, f.model_id) for f in again} == {(MODEL_PROMOTED, third)}
    registry.close()


def test_a_reissue_cut_short_by_a_crash_is_completed_without_repeats(
    feed: dict[str, str], nats_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many upcoming fixtures are re-issued in several saves; a crash after the first leaves the
    promotion untracked, and the restart re-issues only the fixtures not yet re-issued."""
    monkeypatch.setattr(forecaster_module, "REISSUE_CHUNK", 2)
    registry = ModelRegistry({**feed, "MODELREGISTRY_NATS_STREAM": unique_name + "_R"})
    bucket, stream = unique_name + "_M", unique_name + "_F"
    promoted(registry, nats_url, bucket, seed=1, rps=0.20)
    service = following(feed, stream, football_champion(registry, nats_url, bucket))
    watch = ChampionWatch(service.forecaster, registry, nats_url=nats_url, bucket=bucket)
    watch.check()
    issued = len(forecasts(feed, stream))
    second = promoted(registry, nats_url, bucket, seed=2, rps=0.19)
    store, saves = service.forecaster._store, []

    def crash_on_second_save(processing: Any) -> None:
        saves.append(processing)
        if len(saves) == 2:
            raise SystemExit("killed")
        store(processing)

    monkeypatch.setattr(service.forecaster, "_store", crash_on_second_save)
    with pytest.raises(SystemExit):
        watch.check()
    service.stop(flush=False)  # the process is gone: nothing else is written
    cut_short = forecasts(feed, stream)[issued:]
    assert len(cut_short) == 2  # the first chunk only

    service = following(feed, stream, football_champion(registry, nats_url, bucket))
    watch = ChampionWatch(service.forecaster, registry, nats_url=nats_url, bucket=bucket)
    try:
        assert watch.check() is True
        assert watch.check() is False
    finally:
        service.stop()
    reissued = forecasts(feed, stream)[issued:]
    fixtures = [f.fixture_id for f in reissued]
    assert len(fixtures) == len(set(fixtures)) > 2
    assert {(f.trigger, f.model_id) for f in reissued} == {(MODEL_PROMOTED, second)}
    registry.close()


def nba_artifact(lead_weight: float) -> bytes:
    """An NBA file: the line itself before the game, a quarter fit per quarter."""
    pregame = NbaModel(booster=None, trees=0, validation_gain=0.0)
    fits = {q: QuarterFit(1.0, lead_weight * q, 0.0) for q in (1, 2, 3)}
    return dump_nba_models(pregame, NbaInPlayModel(fits))


def nba_record(artifact_hash: str, log_loss: float) -> ModelRecord:
    return replace(
        record(artifact_hash, 0.0),
        kind=NBA,
        seasons=["2021", "2022"],
        holdout_season="2022",
        holdout_metrics={"log_loss": log_loss},
    )


def test_promotions_of_every_kind_made_while_the_forecaster_was_down_are_acted_on_together(
    nats_url: str, unique_name: str
) -> None:
    """A football and an NBA champion promoted while no forecaster ran: its watch switches both
    models in one step and tracks the last promotion; a later NBA promotion alone leaves the
    football model as it is."""
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    registry = ModelRegistry({**env, "MODELREGISTRY_NATS_STREAM": unique_name + "_R"})
    bucket = unique_name + "_M"
    football = registry.register(record(asyncio.run(put(nats_url, bucket, tiny_model(1))), 0.2))
    registry.promote(football.model_id)
    nba = registry.register(nba_record(asyncio.run(put(nats_url, bucket, nba_artifact(0.1))), 0.6))
    registry.promote(nba.model_id)
    promoted = registry.recorder.max_notification_id()

    forecaster = Forecaster({**env, "FORECASTER_NATS_STREAM": unique_name + "_F"})
    watch = ChampionWatch(forecaster, registry, nats_url=nats_url, bucket=bucket)
    try:
        assert watch.check() is True
        assert forecaster.model is not None
        assert forecaster.model.model_id == football.model_id
        assert forecaster.nba_models is not None
        assert forecaster.nba_models.artifact_hash == nba.artifact_hash
        assert forecaster.promotion_position(registry.name) == promoted
        assert watch.check() is False  # nothing new, already on both champions

        better = registry.register(
            nba_record(asyncio.run(put(nats_url, bucket, nba_artifact(0.2))), 0.59)
        )
        worse = registry.register(
            nba_record(asyncio.run(put(nats_url, bucket, nba_artifact(0.3))), 0.61)
        )
        with pytest.raises(ChallengerWorse):
            registry.promote(worse.model_id)
        registry.promote(better.model_id)
        football_in_use = forecaster.model
        assert watch.check() is True
        assert forecaster.nba_models.artifact_hash == better.artifact_hash
        assert forecaster.model is football_in_use
        assert (
            forecaster.promotion_position(registry.name) == registry.recorder.max_notification_id()
        )
    finally:
        forecaster.close()
        registry.close()


def test_a_watch_leaves_kinds_it_does_not_watch_alone(nats_url: str, unique_name: str) -> None:
    """A kind given to the forecaster as a file is not switched to that kind's champion."""
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    registry = ModelRegistry({**env, "MODELREGISTRY_NATS_STREAM": unique_name + "_R"})
    bucket = unique_name + "_M"
    nba = registry.register(nba_record(asyncio.run(put(nats_url, bucket, nba_artifact(0.1))), 0.6))
    registry.promote(nba.model_id)
    forecaster = Forecaster({**env, "FORECASTER_NATS_STREAM": unique_name + "_F"})
    watch = ChampionWatch(
        forecaster, registry, nats_url=nats_url, bucket=bucket, kinds=[FOOTBALL_1X2]
    )
    try:
        watch.check()
        assert forecaster.nba_models is None
    finally:
        forecaster.close()
        registry.close()


def settings_for(unique_name: str, **files: Path) -> Settings:
    return Settings(
        stream_name=unique_name,
        forecaster_stream=unique_name + "_F",
        model_registry_stream=unique_name + "_R",
        model_bucket=unique_name + "_M",
        **files,  # type: ignore[arg-type]
    )


def test_a_deployment_forecasts_with_each_kinds_file_or_champion(
    nats_url: str, unique_name: str, tmp_path: Path
) -> None:
    """`sportcast up` starts no forecaster while there is nothing to forecast with; once a kind
    has a champion it starts one on it, following every kind not pinned to a file."""
    settings = settings_for(unique_name)
    assert running_forecaster(settings, nats_url, only_with_a_model=True) is None

    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    registry = ModelRegistry(registry_env({**env, "NATS_STREAM": unique_name}, unique_name + "_R"))
    nba = registry.register(
        nba_record(asyncio.run(put(nats_url, unique_name + "_M", nba_artifact(0.1))), 0.6)
    )
    registry.promote(nba.model_id)
    registry.close()

    running = running_forecaster(settings, nats_url, only_with_a_model=True)
    assert running is not None
    try:
        assert running.kinds_in_use == [NBA]
        assert running.service.forecaster.nba_models is not None
        assert running.service.forecaster.nba_models.artifact_hash == nba.artifact_hash
        assert running.service.forecaster.model is None
        assert running.watch is not None
        assert running.watch.kinds == {FOOTBALL_1X2, NBA, FOOTBALL_INPLAY}
    finally:
        running.stop()

    pinned = tmp_path / "nba.model"
    pinned.write_bytes(nba_artifact(0.3))
    running = running_forecaster(settings_for(unique_name, nba_model_file=pinned), nats_url)
    assert running is not None
    try:
        assert running.kinds_in_use == [NBA]
        assert running.service.forecaster.nba_models is not None
        assert running.service.forecaster.nba_models.artifact_hash != nba.artifact_hash
        assert running.watch is not None
        assert running.watch.kinds == {FOOTBALL_1X2, FOOTBALL_INPLAY}
    finally:
        running.stop()


def inplay_record(artifact_hash: str, log_loss: float) -> ModelRecord:
    return replace(
        record(artifact_hash, 0.0), kind=FOOTBALL_INPLAY, holdout_metrics={"log_loss": log_loss}
    )


def test_an_inplay_artifact_whose_elo_prior_the_forecaster_does_not_keep_is_not_promoted(
    nats_url: str, unique_name: str
) -> None:
    """The forecaster keeps the World Cup Elo prior under carry-overs 1.0 and 0.7 only; an
    artifact trained under another would raise at the first World Cup kick-off after the
    switch. Promotion refuses it by name (better holdout score or not) and the champion stays;
    the artifact the training writes is promoted."""
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    env["NATS_STREAM"] = unique_name
    servable = small_inplay_model()
    odd = dump_inplay_model(replace(load_inplay_model(servable), elo_carry_over=0.8))

    async def run() -> tuple[str, str, str | None]:
        nc = await nats.connect(nats_url)
        artifacts = ArtifactStore(nc.jetstream(), bucket=unique_name + "_M")
        registry = ModelRegistry(registry_env(env, unique_name + "_R"))
        feeds = FeedIngestion(env)
        try:
            good = registry.register(inplay_record(await artifacts.put(servable), 0.9))
            await promote(feeds, registry, artifacts, good.model_id)
            bad = registry.register(inplay_record(await artifacts.put(odd), 0.5))
            with pytest.raises(ArtifactNotServableError, match=r"carry-over 0\.8") as refused:
                await promote(feeds, registry, artifacts, bad.model_id)
            assert refused.value.code == "artifact-not-servable"
            champion = registry.champion(FOOTBALL_INPLAY)
            assert champion is not None
            return good.model_id, bad.model_id, champion.model_id
        finally:
            feeds.close()
            registry.close()
            await nc.close()

    good, bad, champion = asyncio.run(run())
    assert champion == good != bad
