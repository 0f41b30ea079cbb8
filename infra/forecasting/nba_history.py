"""Reads the feed's NBA games from the event store, trains both NBA models, writes the artifact.

Notifications 1..cut-off, only the event types `NbaGames` reads, so a run names exactly the log
prefix it saw. The CSVs are never read. `NbaKind` is the NBA file's kind for the registry
(infra/forecasting/kinds.py): trained on the seasons before a holdout season, scored on it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from eventsourcing.utils import get_topic

from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRecord
from domain.fixture import Fixture
from domain.model_registry import NBA, TrainedModel
from domain.odds_book import OddsBook
from forecasting.nba.kind import candidate_holdout, refuse_trained_on
from forecasting.nba.model import NbaModelParameters
from forecasting.nba.training import (
    PARAMETERS,
    NbaTraining,
    NbaTrainingSet,
    holdout_fingerprint,
    holdout_metrics,
    split_holdout,
    train,
    training_set,
)
from infra.forecasting.artifacts import content_hash
from infra.forecasting.history import max_position, read_events
from infra.forecasting.inplay_history import write_atomically
from infra.forecasting.kinds import Candidate
from infra.forecasting.nba_model_file import dump_nba_models, load_nba_file
from infra.forecasting.versions import library_versions

TOPICS = tuple(
    get_topic(cls)
    for cls in (
        Fixture.Scheduled,
        Fixture.Rescheduled,
        Fixture.Started,
        Fixture.PeriodEnded,
        Fixture.Finished,
        Fixture.Abandoned,
        OddsBook.Opened,
        OddsBook.OddsQuoted,
    )
)


def read_training_set(feeds: FeedIngestion, *, cutoff: int) -> NbaTrainingSet:
    return training_set(read_events(feeds, cutoff=cutoff, topics=TOPICS))


@dataclass(frozen=True)
class NbaArtifact:
    training: NbaTraining
    cutoff_position: int
    path: Path
    size: int
    seconds: float


def train_to_file(feeds: FeedIngestion, out: Path, *, cutoff: int | None = None) -> NbaArtifact:
    """Train from the log up to `cutoff` (default: everything stored now) and write the artifact
    to `out` atomically. Raises ValueError when the log holds too few NBA seasons."""
    started = time.perf_counter()
    position = max_position(feeds) if cutoff is None else cutoff
    run = train(read_training_set(feeds, cutoff=position))
    data = dump_nba_models(run.pregame, run.inplay, run.market_free)
    write_atomically(out, data)
    return NbaArtifact(run, position, out, len(data), time.perf_counter() - started)


@dataclass(frozen=True)
class NbaKind:
    """The NBA file (pre-game model and in-play quarter fits): trained on the seasons before the
    holdout season (default the last in the log), scored on every forecast the file makes for
    that season; promotion metric log loss. The artifact deployed is the same recipe on every
    season up to the cut-off (ADR 0013); the record names it beside the scored one."""

    parameters: NbaModelParameters = PARAMETERS
    holdout_season: str | None = None
    name: str = NBA

    def train(self, feeds: FeedIngestion, *, cutoff: int | None = None) -> Candidate:
        position = max_position(feeds) if cutoff is None else cutoff
        data = read_training_set(feeds, cutoff=position)
        try:
            split = split_holdout(data, self.holdout_season, self.parameters)
        except ValueError as error:
            raise ValueError(f"the feed up to position {position}: {error}") from None
        started = time.perf_counter()
        run = train(split.training, self.parameters)
        scored = dump_nba_models(run.pregame, run.inplay, run.market_free)
        # Deployed: the same recipe on every season up to the cut-off (ADR 0013's refit
        # rule): the holdout season now takes part in the walk-forward that sizes each model.
        refitted = train(data, self.parameters)
        seconds = time.perf_counter() - started
        artifact = dump_nba_models(refitted.pregame, refitted.inplay, refitted.market_free)
        first, last = split.tipoff_range()
        return Candidate(
            artifact,
            scored_artifact=scored,
            record=ModelRecord(
                kind=self.name,
                artifact_hash=content_hash(artifact),
                scored_artifact_hash=content_hash(scored),
                refit={
                    "rule": "the holdout recipe on every season up to the cut-off: the "
                    "walk-forward sizing and calibration take the holdout season too",
                    "seasons": [s for s, _, _ in data.seasons],
                    "trees": refitted.pregame.trees,
                    "market_free_trees": (
                        None if refitted.market_free is None else refitted.market_free.trees
                    ),
                },
                cutoff_position=position,
                first_kickoff=first,
                last_kickoff=last,
                seasons=split.seasons,
                holdout_season=split.season,
                holdout_fingerprint=holdout_fingerprint(split.holdout),
                hyperparameters={**asdict(self.parameters), "trees": run.pregame.trees},
                library_versions=library_versions(),
                holdout_metrics=score(scored, split.holdout),
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
        """The rules are forecasting/nba/kind.py's."""
        refuse_trained_on(champion, candidate)
        data = read_training_set(feeds, cutoff=candidate.cutoff_position)
        return score(artifact, candidate_holdout(data, candidate))["log_loss"]


def score(artifact: bytes, holdout: NbaTrainingSet) -> dict[str, float]:
    """The artifact as stored (decoded from its bytes) on the holdout: training and re-scoring
    both score through here, so a model re-scored on its own holdout gets its recorded score."""
    pregame, inplay, market_free = load_nba_file(artifact)
    return holdout_metrics(pregame, inplay, holdout, market_free)
