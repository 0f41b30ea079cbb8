"""The NBA and in-play football kinds of the model registry, trained from a real event store.

Short windows of the datasets are replayed into a real nats-server (one lane: exact order) at
known cut-offs. What is proved for each kind: the artifact registered is the one scored (its
recorded log loss is what re-scoring it on its own holdout gives, exactly, and what the
forecaster's own loader predicts gives too); the holdout takes no part in fitting it; a champion
that trained on a candidate's holdout, or a candidate whose holdout the log no longer gives, is
refused a comparison. Expected dates come from the dataset readers, not the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import nats
import pytest

from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRecord, ModelRegistry
from domain.model_registry import (
    FOOTBALL_INPLAY,
    NBA,
    ChallengerWorse,
    Champion,
    HoldoutsNotComparable,
    TrainedModel,
)
from forecasting.inplay.model import InPlayParameters
from forecasting.inplay.training import TrainingSet, train, train_for_holdout
from forecasting.nba.model import NbaModelParameters
from forecasting.nba.training import NbaTrainingSet
from forecasting.nba.training import train as train_nba
from infra.bootstrap import event_store_env
from infra.cli_common import serve_metrics
from infra.embedded.nats import EmbeddedNats
from infra.embedded.ports import free_port
from infra.feeds.datasets import MalformedRow, read_football, read_nba, read_worldcup_matches
from infra.feeds.replay import NBA_TIPOFF, NBA_TZ, Replay
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.champion import ScheduledTrainer
from infra.forecasting.history import max_position
from infra.forecasting.inplay_history import InPlayKind
from infra.forecasting.inplay_history import read_training_set as read_inplay_set
from infra.forecasting.kinds import Candidate
from infra.forecasting.lifecycle import promote, registry_env, train_and_register
from infra.forecasting.model_file import LoadedInPlayModel, dump_inplay_model
from infra.forecasting.nba_history import NbaKind
from infra.forecasting.nba_history import read_training_set as read_nba_set
from infra.forecasting.nba_model_file import LoadedNbaModels, dump_nba_models
from infra.forecasting.trainer_metrics import instrument_trainer
from infra.settings import Settings
from tests.metrics_support import scrape_until, value
from tests.replaying import play

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
Window = tuple[date, date]
# Three NBA seasons to train on (one of them validates), then the holdout season in two parts.
NBA_TRAINING = (
    (date(2016, 3, 1), date(2016, 3, 12)),
    (date(2017, 3, 1), date(2017, 3, 12)),
    (date(2018, 3, 1), date(2018, 3, 12)),
)
NBA_HOLDOUT = ((date(2018, 10, 16), date(2018, 10, 26)), (date(2018, 10, 27), date(2018, 11, 6)))
# No standard-error margin: any validation gain keeps a correction, so the file carries CatBoost
# trees (the market alone would leave the pre-game part of the artifact empty).
NBA_PARAMETERS = NbaModelParameters(max_iterations=60, validation_seasons=1, standard_errors=0.0)
WORLD_CUP = (date(2018, 6, 14), date(2018, 7, 15))
LEAGUES = ((date(2018, 8, 10), date(2018, 8, 13)), (date(2018, 8, 14), date(2018, 8, 19)))
INPLAY_PARAMETERS = InPlayParameters(max_iterations=300, early_stopping_rounds=40)


@dataclass(frozen=True)
class Store:
    env: dict[str, str]
    positions: dict[str, int]
    """The log's head after each replayed window, by name."""

    @contextmanager
    def feeds(self) -> Iterator[FeedIngestion]:
        feeds = FeedIngestion(self.env)
        try:
            yield feeds
        finally:
            feeds.close()


def replay(nats: EmbeddedNats, windows: Sequence[tuple[str, str, Window]]) -> Store:
    """(name, source, window) in order into a fresh stream, one lane: exact event order."""
    settings = Settings(data_dir=DATA, stream_name=f"K{uuid.uuid4().hex[:12].upper()}")
    store = Store(event_store_env(settings, nats.url), {})
    for name, source, (since, until) in windows:
        report = play(settings, nats.url, source, Replay(DATA, since=since, until=until), lanes=1)
        assert not report.refused
        with store.feeds() as feeds:
            store.positions[name] = max_position(feeds)
    return store


def trained(record: ModelRecord) -> TrainedModel:
    """The registry's model of a record, as `ModelRegistry.register` creates it."""
    return record.trained_model()


def mean_log_loss(chosen: Sequence[float]) -> float:
    """From the probabilities given to what happened."""
    return -sum(math.log(p) for p in chosen) / len(chosen)


def scored(candidate: Candidate) -> bytes:
    """The artifact the candidate's holdout scored (the deployed one is its refit)."""
    return candidate.artifact if candidate.scored_artifact is None else candidate.scored_artifact


def assert_is_its_artifact(candidate: Candidate) -> None:
    assert candidate.record.artifact_hash == hashlib.sha256(candidate.artifact).hexdigest()
    assert (
        candidate.record.model_id
        == f"{candidate.record.kind}-{candidate.record.artifact_hash[:12]}"
    )


# NBA ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NbaRuns:
    store: Store
    full: Candidate  # the whole log: holdout 2019, trained on 2016-2018
    partial: Candidate  # the first part of 2019 only
    early: Candidate  # up to the end of 2018: holdout 2018, trained on 2016-2017


@pytest.fixture(scope="module")
def nba(nats_server: EmbeddedNats) -> NbaRuns:
    names = ("2016", "2017", "2018", "2019a", "2019b")
    windows = [*NBA_TRAINING, *NBA_HOLDOUT]
    store = replay(nats_server, [(n, "nba", w) for n, w in zip(names, windows, strict=True)])
    kind = NbaKind(NBA_PARAMETERS)
    with store.feeds() as feeds:
        return NbaRuns(
            store,
            full=kind.train(feeds),
            partial=kind.train(feeds, cutoff=store.positions["2019a"]),
            early=kind.train(feeds, cutoff=store.positions["2018"]),
        )


def nba_tipoffs(windows: Sequence[Window]) -> tuple[datetime, datetime]:
    """First and last tip-off of the games with a moneyline in these windows (the replay tips
    every game off at NBA_TIPOFF, Eastern)."""
    days = [
        r.game_date
        for r in read_nba(DATA)
        if not isinstance(r, MalformedRow)
        and r.moneyline_home
        and r.moneyline_away
        and any(since <= r.game_date <= until for since, until in windows)
    ]
    return (
        datetime.combine(min(days), NBA_TIPOFF, NBA_TZ),
        datetime.combine(max(days), NBA_TIPOFF, NBA_TZ),
    )


def nba_log_loss(artifact: bytes, data: NbaTrainingSet, season: str) -> float:
    """Of every forecast the forecaster's loader makes for the season's games: pre-game, then
    after each quarter, each once."""
    ((_, rows, won),) = [entry for entry in data.seasons if entry[0] == season]
    quarters = [i for i, s in enumerate(data.state_seasons) if s == season]
    models = LoadedNbaModels.from_bytes(artifact)
    predicted = [
        *models.predict_pregame(rows),
        *models.predict_inplay([data.states[i] for i in quarters]),
    ]
    outcomes = [*won, *(data.state_home_won[i] for i in quarters)]
    return mean_log_loss([p if w else 1.0 - p for p, w in zip(predicted, outcomes, strict=True)])


def test_nba_records_what_it_trained_on_and_the_holdout_it_was_scored_on(nba: NbaRuns) -> None:
    record = nba.full.record
    assert_is_its_artifact(nba.full)
    assert record.kind == NBA
    assert record.cutoff_position == nba.store.positions["2019b"]
    assert (record.seasons, record.holdout_season) == (["2016", "2017", "2018", "2019"], "2019")
    assert (record.first_kickoff, record.last_kickoff) == nba_tipoffs([*NBA_TRAINING, *NBA_HOLDOUT])
    assert record.hyperparameters["max_iterations"] == 60
    assert record.hyperparameters["trees"] == record.holdout_metrics["trees"] > 0
    assert LoadedNbaModels.from_bytes(nba.full.artifact).pregame.booster is not None
    assert set(record.library_versions) >= {"catboost", "numpy", "sportcast"}
    metrics = record.holdout_metrics
    assert metrics["n_games"] > 50
    assert metrics["n_states"] == 3 * metrics["n_games"]  # every quoted game reached Q1-Q3
    assert {"log_loss_pregame", "log_loss_line", "log_loss_q1", "log_loss_q2"} < set(metrics)
    assert metrics["log_loss_q3"] < metrics["log_loss_line"]  # a lead late on tells more
    assert 0.0 <= metrics["ece_pregame"] < 0.5
    early = nba.early.record
    assert (early.seasons, early.holdout_season) == (["2016", "2017", "2018"], "2018")
    assert early.holdout_fingerprint != record.holdout_fingerprint


def test_the_nba_log_loss_pools_every_forecast_of_the_holdout_as_the_forecaster_makes_it(
    nba: NbaRuns,
) -> None:
    with nba.store.feeds() as feeds:
        data = read_nba_set(feeds, cutoff=nba.full.record.cutoff_position)
    assert (
        LoadedNbaModels.from_bytes(nba.full.artifact).artifact_hash == nba.full.record.artifact_hash
    )
    metrics = nba.full.record.holdout_metrics
    assert metrics["log_loss"] == pytest.approx(
        nba_log_loss(scored(nba.full), data, "2019"), rel=1e-12
    )
    ((_, rows, won),) = [entry for entry in data.seasons if entry[0] == "2019"]
    assert (metrics["n_games"], metrics["n_states"]) == (len(rows), 3 * len(rows))
    line = [r.market_home if w else 1.0 - r.market_home for r, w in zip(rows, won, strict=True)]
    assert metrics["log_loss_line"] == pytest.approx(mean_log_loss(line), rel=1e-12)


def test_the_nba_holdout_season_takes_no_part_in_fitting(nba: NbaRuns) -> None:
    # However much of the holdout season the log holds, the artifact is the same: only the
    # seasons before it train. What it is scored on differs.
    assert scored(nba.partial) == scored(nba.full)
    assert nba.partial.record.holdout_season == "2019"
    assert nba.partial.record.holdout_fingerprint != nba.full.record.holdout_fingerprint
    assert (
        nba.partial.record.holdout_metrics["n_games"] < nba.full.record.holdout_metrics["n_games"]
    )
    # train-nba's model, which trains on every season, holdout included, is another artifact.
    with nba.store.feeds() as feeds:
        data = read_nba_set(feeds, cutoff=nba.full.record.cutoff_position)
    everything = train_nba(data, NBA_PARAMETERS)
    assert dump_nba_models(everything.pregame, everything.inplay) != scored(nba.full)


def test_the_deployed_nba_artifact_is_the_recipe_refitted_on_every_season(nba: NbaRuns) -> None:
    # ADR 0013: the scored artifact never saw the holdout; the deployed one is train-nba's
    # recipe on every season up to the cut-off, and the record names both.
    record = nba.full.record
    assert nba.full.scored_artifact is not None
    assert record.scored_artifact_hash == hashlib.sha256(nba.full.scored_artifact).hexdigest()
    assert record.scored_artifact_hash != record.artifact_hash
    with nba.store.feeds() as feeds:
        data = read_nba_set(feeds, cutoff=record.cutoff_position)
    everything = train_nba(data, NBA_PARAMETERS)
    deployed = dump_nba_models(everything.pregame, everything.inplay, everything.market_free)
    assert deployed == nba.full.artifact
    assert record.refit["seasons"] == ["2016", "2017", "2018", "2019"]
    assert record.refit["trees"] == everything.pregame.trees


def test_an_nba_model_rescored_on_its_own_holdout_gets_its_recorded_log_loss(
    nba: NbaRuns,
) -> None:
    kind = NbaKind(NBA_PARAMETERS)
    for candidate in (nba.full, nba.early):
        model = trained(candidate.record)
        with nba.store.feeds() as feeds:
            score = kind.rescore(model, scored(candidate), feeds, model)
        assert score == candidate.record.holdout_metrics["log_loss"]


def test_an_nba_champion_is_rescored_only_on_a_season_it_did_not_train_on(nba: NbaRuns) -> None:
    kind = NbaKind(NBA_PARAMETERS)
    full, early = trained(nba.full.record), trained(nba.early.record)
    with nba.store.feeds() as feeds:
        # `full` trained on 2018, `early`'s holdout.
        with pytest.raises(HoldoutsNotComparable, match="trained on season 2018"):
            kind.rescore(full, scored(nba.full), feeds, early)
        # `early` never saw 2019: it is scored on `full`'s holdout as `full` was.
        score = kind.rescore(early, scored(nba.early), feeds, full)
        data = read_nba_set(feeds, cutoff=full.cutoff_position)
    assert score == pytest.approx(nba_log_loss(scored(nba.early), data, "2019"), rel=1e-12)


def test_an_nba_candidate_whose_holdout_the_log_no_longer_gives_is_not_compared(
    nba: NbaRuns,
) -> None:
    # Scored on the first part of 2019, but its cut-off now names a log holding all of it.
    moved = trained(replace(nba.partial.record, cutoff_position=nba.full.record.cutoff_position))
    with (
        nba.store.feeds() as feeds,
        pytest.raises(HoldoutsNotComparable, match="no longer gives the holdout"),
    ):
        NbaKind(NBA_PARAMETERS).rescore(trained(nba.early.record), scored(nba.early), feeds, moved)


def test_too_few_nba_seasons_before_the_holdout_is_refused(nba: NbaRuns) -> None:
    with (
        nba.store.feeds() as feeds,
        pytest.raises(ValueError, match="too few NBA seasons before holdout season 2017"),
    ):
        NbaKind(NBA_PARAMETERS).train(feeds, cutoff=nba.store.positions["2017"])


# In-play football ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InPlayRuns:
    store: Store
    full: Candidate  # the World Cup and both league windows
    mid: Candidate  # the World Cup and the first league window


@pytest.fixture(scope="module")
def inplay(nats_server: EmbeddedNats) -> InPlayRuns:
    if not (DATA / "worldcup" / "matches.csv").exists():
        pytest.skip(f"no World Cup dataset at {DATA}")
    store = replay(
        nats_server,
        [
            ("worldcup", "worldcup", WORLD_CUP),
            ("leagues-1", "football", LEAGUES[0]),
            ("leagues-2", "football", LEAGUES[1]),
        ],
    )
    kind = InPlayKind(INPLAY_PARAMETERS)
    with store.feeds() as feeds:
        return InPlayRuns(
            store,
            full=kind.train(feeds),
            mid=kind.train(feeds, cutoff=store.positions["leagues-1"]),
        )


def league_kickoffs(windows: Sequence[Window]) -> list[datetime]:
    """Of the league matches with a result and a half-time score (every one has odds)."""
    return [
        r.kickoff
        for r in read_football(DATA)
        if not isinstance(r, MalformedRow)
        and any(since <= r.kickoff.date() <= until for since, until in windows)
        and None not in (r.home_goals, r.away_goals, r.home_goals_ht, r.away_goals_ht)
    ]


def inplay_log_loss(artifact: bytes, data: TrainingSet) -> float:
    """Of the forecaster's loader on the holdout states."""
    holdout = [s for s in data.samples if s.holdout]
    predicted = LoadedInPlayModel.from_bytes(artifact).predict_many([s.state for s in holdout])
    return mean_log_loss([p[s.outcome] for p, s in zip(predicted, holdout, strict=True)])


def test_inplay_records_what_it_trained_on_and_the_window_it_was_scored_on(
    inplay: InPlayRuns,
) -> None:
    record = inplay.full.record
    assert_is_its_artifact(inplay.full)
    assert LoadedInPlayModel.from_bytes(inplay.full.artifact).artifact_hash == record.artifact_hash
    loaded = LoadedInPlayModel.from_bytes(scored(inplay.full))  # what the metrics describe
    assert record.kind == FOOTBALL_INPLAY
    assert record.cutoff_position == inplay.store.positions["leagues-2"]
    world_cup = [  # local kick-off times the replay takes as UTC
        datetime.combine(m.match_date, time.fromisoformat(m.match_time or "15:00"), UTC)
        for m in read_worldcup_matches(DATA)
        if not isinstance(m, MalformedRow) and WORLD_CUP[0] <= m.match_date <= WORLD_CUP[1]
    ]
    leagues = league_kickoffs(LEAGUES)
    assert (record.first_kickoff, record.last_kickoff) == (min(world_cup), max(leagues))
    assert "FIFA Men's World Cup 2018" in record.seasons
    assert all(s.endswith("2018-2019") for s in record.seasons if "World Cup" not in s)
    window, dates = record.holdout_season.split(":")
    assert window == "latest-20%"
    first, last = dates.split("..")
    assert date.fromisoformat(first) == sorted(world_cup)[-13].date()  # the latest fifth of 64
    assert date.fromisoformat(last) == max(leagues).astimezone(UTC).date()  # the last league day
    metrics = record.holdout_metrics
    assert metrics["n_fixtures"] == round(0.2 * 64) + round(0.2 * len(leagues))
    assert metrics["log_loss"] < metrics["log_loss_prior"]  # the score so far tells more
    assert 0.0 <= metrics["ece"] < 0.2
    assert metrics["trees"] == loaded.model.trees == record.hyperparameters["trees"]
    assert metrics["temperature"] == loaded.model.calibration.temperature


def test_the_inplay_log_loss_is_what_the_forecasters_loader_predicts_on_the_holdout(
    inplay: InPlayRuns,
) -> None:
    with inplay.store.feeds() as feeds:
        data = read_inplay_set(feeds, cutoff=inplay.full.record.cutoff_position)
    metrics = inplay.full.record.holdout_metrics
    assert metrics["n_states"] == sum(s.holdout for s in data.samples)
    assert metrics["log_loss"] == pytest.approx(
        inplay_log_loss(scored(inplay.full), data), rel=1e-9
    )


def test_the_inplay_holdout_takes_no_part_in_fitting_sizing_or_calibration(
    inplay: InPlayRuns,
) -> None:
    with inplay.store.feeds() as feeds:
        data = read_inplay_set(feeds, cutoff=inplay.full.record.cutoff_position)
    run = train_for_holdout(data, INPLAY_PARAMETERS)
    assert dump_inplay_model(run.model) == scored(inplay.full)
    held = {s.fixture_id for s in run.holdout}
    assert held.isdisjoint(s.fixture_id for s in [*run.fitted, *run.validation])
    assert len(run.fitted) + len(run.validation) + len(run.holdout) == len(data.samples)
    # Other outcomes for every holdout state: the very same artifact.
    flipped = replace(
        data,
        samples=[replace(s, outcome=(s.outcome + 1) % 3) if s.holdout else s for s in data.samples],
    )
    assert dump_inplay_model(train_for_holdout(flipped, INPLAY_PARAMETERS).model) == scored(
        inplay.full
    )
    # train-inplay's model, sized, calibrated and refitted on the holdout, is another one:
    # the deployed one (ADR 0013's refit), which the record names beside the scored one.
    deployed = dump_inplay_model(train(data, INPLAY_PARAMETERS).model)
    assert deployed != scored(inplay.full)
    assert deployed == inplay.full.artifact
    record = inplay.full.record
    assert record.scored_artifact_hash == hashlib.sha256(scored(inplay.full)).hexdigest()
    assert record.refit["trees"] == LoadedInPlayModel.from_bytes(deployed).model.trees


def test_an_inplay_model_rescored_on_its_own_holdout_gets_its_recorded_log_loss(
    inplay: InPlayRuns,
) -> None:
    kind = InPlayKind(INPLAY_PARAMETERS)
    for candidate in (inplay.full, inplay.mid):
        model = trained(candidate.record)
        with inplay.store.feeds() as feeds:
            score = kind.rescore(model, scored(candidate), feeds, model)
        assert score == candidate.record.holdout_metrics["log_loss"]


def test_an_inplay_champion_is_rescored_only_on_fixtures_it_did_not_train_on(
    inplay: InPlayRuns,
) -> None:
    kind = InPlayKind(INPLAY_PARAMETERS)
    full, mid = trained(inplay.full.record), trained(inplay.mid.record)
    with inplay.store.feeds() as feeds:
        # `full` holds out the latest fifth of both league windows: it trained on the latest
        # fifth of the first, `mid`'s league holdout.
        with pytest.raises(HoldoutsNotComparable, match=r"trained on \d+ fixtures of the holdout"):
            kind.rescore(full, scored(inplay.full), feeds, mid)
        # `mid` trained on nothing `full` holds out: compared on `full`'s holdout.
        score = kind.rescore(mid, scored(inplay.mid), feeds, full)
        data = read_inplay_set(feeds, cutoff=full.cutoff_position)
    assert score == pytest.approx(inplay_log_loss(scored(inplay.mid), data), rel=1e-9)


def test_an_inplay_candidate_whose_holdout_the_log_no_longer_gives_is_not_compared(
    inplay: InPlayRuns,
) -> None:
    moved = trained(replace(inplay.mid.record, cutoff_position=inplay.full.record.cutoff_position))
    mid = trained(inplay.mid.record)
    with (
        inplay.store.feeds() as feeds,
        pytest.raises(HoldoutsNotComparable, match="no longer gives the holdout"),
    ):
        InPlayKind(INPLAY_PARAMETERS).rescore(mid, scored(inplay.mid), feeds, moved)


def test_too_few_fixtures_for_an_inplay_holdout_is_refused(inplay: InPlayRuns) -> None:
    with inplay.store.feeds() as feeds, pytest.raises(ValueError, match="position 1: too few"):
        InPlayKind(INPLAY_PARAMETERS).train(feeds, cutoff=1)


def test_the_lifecycle_registers_and_promotes_inplay_models_against_their_own_champion(
    inplay: InPlayRuns, nats_server: EmbeddedNats
) -> None:
    """Through the registry and the object store: train at two cut-offs, promote the first,
    then the second only if not worse than the first re-scored on the second's holdout; the
    football champion is untouched."""
    kind = InPlayKind(INPLAY_PARAMETERS)
    kinds = {FOOTBALL_INPLAY: kind}
    stream = f"R{uuid.uuid4().hex[:12].upper()}"

    async def run() -> tuple[TrainedModel, TrainedModel, Champion | ChallengerWorse, float]:
        nc = await nats.connect(nats_server.url)
        artifacts = ArtifactStore(nc.jetstream(), bucket=stream)
        registry = ModelRegistry(registry_env(inplay.store.env, stream))
        try:
            with inplay.store.feeds() as feeds:
                positions = inplay.store.positions
                mid = await train_and_register(
                    feeds, registry, artifacts, kind=kind, cutoff=positions["leagues-1"]
                )
                full = await train_and_register(
                    feeds, registry, artifacts, kind=kind, cutoff=positions["leagues-2"]
                )
                champion = await promote(feeds, registry, artifacts, mid.model_id, kinds=kinds)
                assert champion.kind == FOOTBALL_INPLAY
                assert champion.model_id == mid.model_id
                stored = await artifacts.get(mid.scored_artifact_hash)
                expected = kind.rescore(mid, stored, feeds, full)
                outcome: Champion | ChallengerWorse
                try:
                    outcome = await promote(feeds, registry, artifacts, full.model_id, kinds=kinds)
                except ChallengerWorse as refused:
                    outcome = refused
                assert registry.champion() is None  # no football champion came of it
                return mid, full, outcome, expected
        finally:
            registry.close()
            await nc.close()

    mid, full, outcome, champion_score = asyncio.run(run())
    assert (mid.artifact_hash, full.artifact_hash) == (
        inplay.mid.record.artifact_hash,
        inplay.full.record.artifact_hash,
    )
    assert mid.holdout_fingerprint != full.holdout_fingerprint  # so the champion was re-scored
    if full.holdout_score <= champion_score:
        assert isinstance(outcome, Champion)
        assert outcome.model_id == full.model_id
    else:
        assert isinstance(outcome, ChallengerWorse)
        assert f"{champion_score:.5f}" in str(outcome)


class _FullDisk(NbaKind):
    """NBA training meeting an error nobody planned for."""

    def train(self, feeds: FeedIngestion, *, cutoff: int | None = None) -> Candidate:
        raise OSError(28, "No space left on device")


def test_the_scheduled_trainer_retrains_each_kind_and_skips_one_without_data(
    inplay: InPlayRuns, nats_server: EmbeddedNats
) -> None:
    """One round of `sportcast serve trainer`: in-play trained and promoted, then the same
    model again (same log: not promoted, it is the champion); NBA skipped with its reason, then
    failing (the trainer lives on). Its /metrics count each outcome by kind."""
    stream = f"R{uuid.uuid4().hex[:12].upper()}"
    registry = ModelRegistry(registry_env(inplay.store.env, stream))
    port = free_port()
    serve_metrics(Settings(metrics_port=port), "sportcast-trainer")  # as `serve trainer` does
    outcomes: list[str] = []
    before = datetime.now(UTC).timestamp()
    try:
        with inplay.store.feeds() as feeds:
            trainer = ScheduledTrainer(
                feeds,
                registry,
                nats_url=nats_server.url,
                bucket=stream,
                every=86_400,
                kinds=[InPlayKind(INPLAY_PARAMETERS), NbaKind(NBA_PARAMETERS)],
                on_result=outcomes.append,
            )
            instrument_trainer(trainer)  # as the composition root does (scheduled_trainer)
            for kind in [*trainer.kinds, trainer.kinds[0], _FullDisk(NBA_PARAMETERS)]:
                trainer.train_once(kind)
            text = scrape_until(port, 'outcome="failed"')
        champion = registry.champion(FOOTBALL_INPLAY)
    finally:
        registry.close()
    model_id = inplay.full.record.model_id
    assert outcomes[0] == f"trained and promoted {model_id}"
    assert outcomes[1].startswith("nba retraining skipped: the feed up to position")
    assert outcomes[2].startswith(f"trained {model_id}, not promoted [already-champion]")
    assert outcomes[3].startswith("nba retraining failed: OSError(28")
    assert champion is not None
    assert champion.model_id == model_id

    runs = "sportcast_trainer_runs_total"
    inplay_kind, nba_kind = f'kind="{FOOTBALL_INPLAY}"', f'kind="{NBA}"'
    assert value(text, runs, inplay_kind, 'outcome="promoted"') == 1
    assert value(text, runs, inplay_kind, 'outcome="kept"') == 1
    assert value(text, runs, nba_kind, 'outcome="skipped"') == 1
    assert value(text, runs, nba_kind, 'outcome="failed"') == 1
    trained_at = value(text, "sportcast_trainer_last_success_timestamp_seconds", inplay_kind)
    assert trained_at is not None
    assert before <= trained_at <= datetime.now(UTC).timestamp()
    assert value(text, "sportcast_trainer_last_success_age_seconds", inplay_kind) is not None
    assert value(text, "sportcast_trainer_last_success_timestamp_seconds", nba_kind) is None
    for label in (inplay_kind, nba_kind):
        took = value(text, "sportcast_trainer_last_duration_seconds", label)
        assert took is not None
        assert took >= 0
