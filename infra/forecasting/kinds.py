"""What the model lifecycle needs of each kind of model: train one for the registry, re-score a
champion on a challenger's holdout (docs/adr/0008, amendment "kinds").

The lifecycle (infra/forecasting/lifecycle.py) is the same for every kind: train from the event
store up to a cut-off, store the artifact under its hash, record `ModelTrained`, promote when not
worse on the holdout. A `ModelKind` supplies the two steps that differ. Both block (CPU and
event-store reads): call them in a thread.

The rule every kind keeps: the artifact registered is exactly the one scored on the holdout, and
the holdout took no part in fitting it, so the holdout score is out of sample and two models of
a kind are compared on data neither trained on.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Protocol

from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRecord
from domain.model_registry import FOOTBALL_1X2, TrainedModel
from forecasting.football.evaluation import train_before, train_for_holdout
from forecasting.football.kind import (
    candidate_holdout,
    holdout_score,
    holdout_season,
    refuse_trained_on,
)
from forecasting.football.model import FootballModelParameters
from forecasting.football.training_set import fingerprint, kickoff_range, seasons_of
from infra.forecasting.artifacts import content_hash
from infra.forecasting.history import read_history
from infra.forecasting.model_file import dump_model
from infra.forecasting.model_file import load_model as decode_model
from infra.forecasting.versions import library_versions

PARAMETERS = FootballModelParameters(thread_count=2)


@dataclass(frozen=True)
class Candidate:
    """A model trained for the registry: its deployed artifact, the artifact its holdout
    scored (None: the same) and what `ModelTrained` records."""

    artifact: bytes
    record: ModelRecord
    scored_artifact: bytes | None = None

    def __post_init__(self) -> None:
        if content_hash(self.artifact) != self.record.artifact_hash:
            raise ValueError("a candidate's record must name its artifact's sha256")
        scored = self.artifact if self.scored_artifact is None else self.scored_artifact
        if content_hash(scored) != (self.record.scored_artifact_hash or self.record.artifact_hash):
            raise ValueError("a candidate's record must name its scored artifact's sha256")


class ModelKind(Protocol):
    @property
    def name(self) -> str:
        """One of domain.model_registry.KINDS."""
        ...

    def train(self, feeds: FeedIngestion, *, cutoff: int | None = None) -> Candidate:
        """Train on the log up to ``cutoff`` (default: all stored now) leaving out a holdout,
        score the holdout: ``record.holdout_metrics`` holds the kind's promotion metric.
        Raises ValueError when the log holds too little to train."""
        ...

    def rescore(
        self,
        champion: TrainedModel,
        artifact: bytes,
        feeds: FeedIngestion,
        candidate: TrainedModel,
    ) -> float:
        """The champion (``artifact``) scored with the kind's metric on the candidate's holdout,
        rebuilt from the log up to the candidate's cut-off. Raises HoldoutsNotComparable when
        the champion trained on any of that holdout, or the log no longer gives the holdout the
        candidate was scored on (its fingerprint differs)."""
        ...


@dataclass(frozen=True)
class FootballKind:
    """Football 1X2 pre-match: train on the seasons before the holdout season (default the
    last one), promotion metric RPS."""

    parameters: FootballModelParameters = PARAMETERS
    holdout_season: str | None = None
    name: str = FOOTBALL_1X2

    def train(self, feeds: FeedIngestion, *, cutoff: int | None = None) -> Candidate:
        """Select and score on the holdout season (the model scored never saw it), then refit
        the same recipe on every season up to the cut-off for the deployed artifact: the
        holdout season now sizes (early stopping), calibrates and passes or fails the
        one-standard-error rule, and the refit on all seasons scales the tree count by the data
        grown (prior_boost.py), as every walk-forward season does."""
        history = read_history(feeds, cutoff=cutoff)
        holdout = holdout_season(history.rows, self.holdout_season, cutoff=history.cutoff_position)
        started = time.perf_counter()
        run = train_for_holdout(history.rows, holdout, self.parameters)
        scored = dump_model(run.model)
        used = [*run.training_rows, *run.rows]
        refitted, _ = train_before(used, _after(seasons_of(used)), self.parameters)
        seconds = time.perf_counter() - started
        artifact = dump_model(refitted)
        first, last = kickoff_range(used)
        return Candidate(
            artifact,
            scored_artifact=scored,
            record=ModelRecord(
                kind=self.name,
                artifact_hash=content_hash(artifact),
                scored_artifact_hash=content_hash(scored),
                refit={
                    "rule": "the holdout recipe one season later: fit on every season before "
                    "the latest, size and calibrate on the latest, refit on all with the tree "
                    "count scaled by the data grown; one-SE rule per trigger stage",
                    "seasons": seasons_of(used),
                    "trees": refitted.trees,
                    "closing_trees": refitted.closing.trees,
                    "temperature": refitted.calibration.temperature,
                    "market_free_trees": (
                        None if refitted.market_free is None else refitted.market_free.trees
                    ),
                },
                cutoff_position=history.cutoff_position,
                first_kickoff=first,
                last_kickoff=last,
                seasons=seasons_of(used),
                holdout_season=holdout,
                holdout_fingerprint=fingerprint(run.rows),
                hyperparameters={**asdict(self.parameters), "trees": run.model.trees},
                library_versions=library_versions(),
                holdout_metrics=run.metrics,
                training_seconds=round(seconds, 3),
            ),
        )

    def rescore(
        self,
        champion: TrainedModel,
        artifact: bytes,
        feeds: FeedIngestion,
        candidate: TrainedModel,
    ) -> float:
        refuse_trained_on(champion, candidate)
        history = read_history(feeds, cutoff=candidate.cutoff_position)
        holdout = candidate_holdout(history.rows, candidate)
        return holdout_score(decode_model(artifact), holdout)


def _after(seasons: list[str]) -> str:
    """A season label after every one given (train_before trains on those before it)."""
    return seasons[-1] + "~"
