"""The model lifecycle, wired: train a model of any kind from the event store, store the artifact,
register, promote; evaluate football walk-forward. The CLI, the scheduled trainer and the tests
call these; see docs/adr/0008."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRegistry
from domain.model_registry import (
    FOOTBALL_1X2,
    FOOTBALL_INPLAY,
    NBA,
    Champion,
    HoldoutsNotComparable,
    TrainedModel,
)
from forecasting.football.evaluation import BOOTSTRAP_SEED, walk_forward
from forecasting.football.model import FootballModelParameters
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.history import History, read_history
from infra.forecasting.inplay_history import InPlayKind
from infra.forecasting.kinds import PARAMETERS, FootballKind, ModelKind
from infra.forecasting.nba_history import NbaKind
from infra.forecasting.serving import load_artifact
from infra.forecasting.versions import library_versions

KINDS: Mapping[str, ModelKind] = {
    FOOTBALL_1X2: FootballKind(PARAMETERS),
    NBA: NbaKind(),
    FOOTBALL_INPLAY: InPlayKind(),
}
"""Each kind's training and re-scoring as `sportcast model train --kind` runs it."""
EVALUATED = ("2018-2019", "2019-2020", "2020-2021", "2021-2022", "2022-2023")


def registry_env(feeds_env: Mapping[str, str], stream: str) -> dict[str, str]:
    return {**feeds_env, "MODELREGISTRY_NATS_STREAM": stream}


async def train_and_register(
    feeds: FeedIngestion,
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    *,
    kind: ModelKind | None = None,
    cutoff: int | None = None,
) -> TrainedModel:
    """Train a model of ``kind`` (default football 1X2) from the log up to ``cutoff``, store its
    artifact under its hash, record `ModelTrained` (an artifact registered before is returned
    as it was)."""
    candidate = await asyncio.to_thread((kind or KINDS[FOOTBALL_1X2]).train, feeds, cutoff=cutoff)
    stored = await artifacts.put(candidate.artifact)
    assert stored == candidate.record.artifact_hash
    if candidate.scored_artifact is not None:  # kept too: a promotion re-scores it
        await artifacts.put(candidate.scored_artifact)
    return await asyncio.to_thread(registry.register, candidate.record)


async def promote(
    feeds: FeedIngestion,
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    model_id: str,
    *,
    kinds: Mapping[str, ModelKind] | None = None,
) -> Champion:
    """Champion/challenger: promote unless worse than the champion of its kind on the
    candidate's holdout, or unless the forecaster could not serve its deployed artifact
    (`ArtifactNotServableError`).

    When the two were scored on different holdouts, the champion is re-scored on the candidate's
    (its kind's `rescore`), provided it never trained on any of it."""
    candidate = registry.model(model_id)
    # Loaded as the forecaster will load it: refused here, not at a kick-off after the switch.
    load_artifact(candidate.kind, model_id, await artifacts.get(candidate.artifact_hash))
    try:
        return await asyncio.to_thread(registry.promote, model_id)
    except HoldoutsNotComparable:
        champion_of_kind = registry.champion(candidate.kind)
        assert champion_of_kind is not None
        assert champion_of_kind.model_id is not None
        champion = registry.model(champion_of_kind.model_id)
        kind = (kinds or KINDS)[candidate.kind]
        # The champion as scored on its own holdout: its deployed refit may have trained on
        # the candidate's holdout.
        artifact = await artifacts.get(champion.scored_artifact_hash)
        score = await asyncio.to_thread(kind.rescore, champion, artifact, feeds, candidate)
        return await asyncio.to_thread(registry.promote, model_id, champion_score=score)


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
