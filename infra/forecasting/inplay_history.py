"""Reads the feed's football matches from the event store for the in-play model, and trains it.

Notifications 1..cut-off, only the event types forecasting/inplay/training.py uses, so a
run names exactly the log prefix it saw. The CSVs are never read. `InPlayKind` is the in-play
model's kind for the registry (infra/forecasting/kinds.py).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from eventsourcing.utils import get_topic

from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRecord
from domain.fixture import Fixture
from domain.model_registry import FOOTBALL_INPLAY, TrainedModel
from domain.odds_book import OddsBook
from forecasting.inplay.kind import rescore_holdout
from forecasting.inplay.model import InPlayParameters
from forecasting.inplay.training import (
    HOLDOUT_SHARE,
    PARAMETERS,
    InPlayTraining,
    MatchTimelines,
    Sample,
    TrainingSet,
    holdout_fingerprint,
    holdout_metrics,
    holdout_window,
    kickoff_range,
    seasons_of,
    train,
    train_for_holdout,
    training_set,
)
from infra.forecasting.artifacts import content_hash
from infra.forecasting.history import max_position, read_events
from infra.forecasting.kinds import Candidate
from infra.forecasting.model_file import dump_inplay_model, load_inplay_model
from infra.forecasting.versions import library_versions

TOPICS = tuple(
    get_topic(cls)
    for cls in (
        Fixture.Scheduled,
        Fixture.Rescheduled,
        Fixture.Started,
        Fixture.GoalScored,
        Fixture.CardShown,
        Fixture.PeriodEnded,
        Fixture.Finished,
        Fixture.ResultCorrected,
        Fixture.Abandoned,
        OddsBook.Opened,
        OddsBook.OddsQuoted,
    )
)


def read_training_set(feeds: FeedIngestion, *, cutoff: int) -> TrainingSet:
    """The in-play training states of notifications 1..cutoff."""
    timelines = MatchTimelines()
    for _, event in read_events(feeds, cutoff=cutoff, topics=TOPICS):
        timelines.apply(event)
    return training_set(timelines.finished(), timelines.competitions_with_goals)


@dataclass(frozen=True)
class InPlayArtifact:
    training: InPlayTraining
    cutoff_position: int
    path: Path
    size: int


def train_to_file(feeds: FeedIngestion, out: Path, *, cutoff: int | None = None) -> InPlayArtifact:
    """Train from the log up to `cutoff` (default: everything stored now) and write the artifact
    to `out` atomically (a temporary file beside it, renamed over it)."""
    position = max_position(feeds) if cutoff is None else cutoff
    run = train(read_training_set(feeds, cutoff=position), PARAMETERS)
    data = dump_inplay_model(run.model)
    write_atomically(out, data)
    return InPlayArtifact(run, position, out, len(data))


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class InPlayKind:
    """The football in-play model for the registry; promotion metric log loss.

    The holdout is the one `train-inplay` reports on: the latest HOLDOUT_SHARE of each prior
    kind's usable fixtures. The model scored never sees it (`train_for_holdout`: the same
    recipe one window earlier), so the log loss recorded is out of sample and re-scoring that
    (scored) artifact gives the same number. The artifact deployed is `train-inplay`'s, which
    sizes and calibrates on the holdout and refits on it too (ADR 0013: the champion trains on
    everything before its cut-off); the record names both.

    ``seasons`` records "<competition without its edition year> <season>" for every fixture
    used; ``holdout_season`` names the holdout's window, "latest-20%:<first>..<last kick-off
    date>".
    """

    parameters: InPlayParameters = PARAMETERS
    name: str = FOOTBALL_INPLAY

    def train(self, feeds: FeedIngestion, *, cutoff: int | None = None) -> Candidate:
        position = max_position(feeds) if cutoff is None else cutoff
        data = read_training_set(feeds, cutoff=position)
        started = time.perf_counter()
        try:
            run = train_for_holdout(data, self.parameters)
        except ValueError as error:
            raise ValueError(f"the feed up to position {position}: {error}") from None
        scored = dump_inplay_model(run.model)
        # Deployed: train-inplay's recipe on every fixture up to the cut-off (ADR 0013's
        # refit rule): the holdout window now sizes and calibrates, and the refit takes it.
        refitted = train(data, self.parameters).model
        seconds = time.perf_counter() - started
        artifact = dump_inplay_model(refitted)
        first, last = kickoff_range(data.played)
        return Candidate(
            artifact,
            scored_artifact=scored,
            record=ModelRecord(
                kind=self.name,
                artifact_hash=content_hash(artifact),
                scored_artifact_hash=content_hash(scored),
                refit={
                    "rule": "train-inplay's recipe on every fixture up to the cut-off: fit "
                    "before the holdout window, size and calibrate on it, refit on both",
                    "trees": refitted.trees,
                    "temperature": refitted.calibration.temperature,
                    "draw_peak": refitted.draw_peak,
                },
                cutoff_position=position,
                first_kickoff=first,
                last_kickoff=last,
                seasons=seasons_of(data.played),
                holdout_season=holdout_window(data),
                holdout_fingerprint=holdout_fingerprint(run.holdout),
                hyperparameters={
                    **asdict(self.parameters),
                    "trees": run.model.trees,
                    "holdout_share": HOLDOUT_SHARE,
                },
                library_versions=library_versions(),
                holdout_metrics=score(scored, run.holdout),
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
        """The rule is forecasting/inplay/kind.py's `rescore_holdout`."""
        data = read_training_set(feeds, cutoff=candidate.cutoff_position)
        champions = data
        if champion.cutoff_position != candidate.cutoff_position:
            champions = read_training_set(feeds, cutoff=champion.cutoff_position)
        holdout = rescore_holdout(champion, candidate, data, champions)
        return score(artifact, holdout)["log_loss"]


def score(artifact: bytes, holdout: Sequence[Sample]) -> dict[str, float]:
    """The artifact as stored (decoded from its bytes) on the holdout: training and re-scoring
    both score through here, so a model re-scored on its own holdout gets its recorded score."""
    return holdout_metrics(load_inplay_model(artifact), holdout)
