"""The model lifecycle, wired: train from the event store, store the artifact, register, promote,
evaluate walk-forward. The CLI and the tests call these; see docs/adr/0008."""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import catboost
import numpy as np

from commands.forecasting.evaluation import BOOTSTRAP_SEED, train_for_holdout, walk_forward
from commands.forecasting.football_model import FootballModelParameters
from commands.forecasting.metrics import ranked_probability_score
from commands.forecasting.training_set import (
    features,
    fingerprint,
    in_seasons,
    kickoff_range,
    outcomes,
    seasons_of,
)
from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRecord, ModelRegistry
from domain.model_registry import Champion, HoldoutsNotComparable, TrainedModel
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.history import History, read_history

PARAMETERS = FootballModelParameters(thread_count=2)
EVALUATED = ("2018-2019", "2019-2020", "2020-2021", "2021-2022", "2022-2023")


def registry_env(feeds_env: Mapping[str, str], stream: str) -> dict[str, str]:
    return {**feeds_env, "MODELREGISTRY_NATS_STREAM": stream}


def library_versions() -> dict[str, str]:
    return {
        "catboost": str(catboost.__version__),
        "numpy": np.__version__,
        "sportcast": importlib.metadata.version("sportcast"),
    }


async def train_and_register(
    feeds: FeedIngestion,
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    *,
    cutoff: int | None = None,
    holdout_season: str | None = None,
    parameters: FootballModelParameters = PARAMETERS,
) -> TrainedModel:
    history = await asyncio.to_thread(read_history, feeds, cutoff=cutoff)
    seasons = seasons_of(history.rows)
    if not seasons:
        raise ValueError(
            f"no forecastable matches in the feed up to position {history.cutoff_position}"
        )
    holdout = holdout_season or seasons[-1]
    started = time.perf_counter()
    run = await asyncio.to_thread(train_for_holdout, history.rows, holdout, parameters)
    seconds = time.perf_counter() - started
    artifact_hash, _ = await artifacts.put_model(run.model)
    used = [*run.training_rows, *run.rows]
    first, last = kickoff_range(used)
    record = ModelRecord(
        artifact_hash=artifact_hash,
        cutoff_position=history.cutoff_position,
        first_kickoff=first,
        last_kickoff=last,
        seasons=seasons_of(used),
        holdout_season=holdout,
        holdout_fingerprint=fingerprint(run.rows),
        hyperparameters={**asdict(parameters), "trees": run.model.trees},
        library_versions=library_versions(),
        holdout_metrics=run.metrics,
        training_seconds=round(seconds, 3),
    )
    return await asyncio.to_thread(registry.register, record)


async def promote(
    feeds: FeedIngestion, registry: ModelRegistry, artifacts: ArtifactStore, model_id: str
) -> Champion:
    """Champion/challenger: promote unless worse than the champion on the candidate's holdout.

    When the two were scored on different matches, the champion is re-scored on the candidate's
    holdout, provided it never trained on that season (its own holdout is not later)."""
    try:
        return await asyncio.to_thread(registry.promote, model_id)
    except HoldoutsNotComparable:
        champion = registry.champion()
        assert champion is not None
        assert champion.model_id is not None
        rps = await champion_rps_on(feeds, registry, artifacts, champion.model_id, model_id)
        return await asyncio.to_thread(registry.promote, model_id, champion_rps=rps)


async def champion_rps_on(
    feeds: FeedIngestion,
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    champion_id: str,
    candidate_id: str,
) -> float:
    champion, candidate = registry.model(champion_id), registry.model(candidate_id)
    if champion.holdout_season > candidate.holdout_season:
        raise HoldoutsNotComparable(
            f"champion {champion_id} trained on season {candidate.holdout_season}, the "
            f"holdout of {candidate_id}: no fair comparison on it exists"
        )
    history = await asyncio.to_thread(read_history, feeds, cutoff=candidate.cutoff_position)
    holdout = in_seasons(history.rows, [candidate.holdout_season])
    if fingerprint(holdout) != candidate.holdout_fingerprint:
        raise HoldoutsNotComparable(
            f"the feed up to position {candidate.cutoff_position} no longer gives the holdout "
            f"{candidate_id} was scored on"
        )
    model = await artifacts.load_model(champion.artifact_hash)
    return ranked_probability_score(model.predict_proba(features(holdout)), outcomes(holdout))


async def evaluate(
    feeds: FeedIngestion,
    out: Path,
    *,
    seasons: Sequence[str] = EVALUATED,
    cutoff: int | None = None,
    parameters: FootballModelParameters = PARAMETERS,
    resamples: int = 1000,
) -> list[Path]:
    history: History = await asyncio.to_thread(read_history, feeds, cutoff=cutoff)
    started = time.perf_counter()
    forecasts = await asyncio.to_thread(walk_forward, history.rows, seasons, parameters)
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cutoff_position": history.cutoff_position,
        "seasons": list(seasons),
        "matches_in_history": len(history.rows),
        "parameters": str(parameters),
        "bootstrap": f"{resamples} paired resamples, seed {BOOTSTRAP_SEED}",
        "odds_open": "3 days before kick-off (replay timing); features as of then",
        "library_versions": library_versions(),
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    # Imported here: the report draws with matplotlib, a second of start-up for every command.
    from infra.forecasting.report import build_report, write_report

    report = await asyncio.to_thread(build_report, forecasts, meta, resamples=resamples)
    return await asyncio.to_thread(write_report, report, out)
