"""Reads the feed's football matches from the event store for the in-play model, and trains it.

Notifications 1..cut-off, only the event types commands/forecasting/inplay_training.py uses, so a
run names exactly the log prefix it saw. The CSVs are never read.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eventsourcing.utils import get_topic

from commands.forecasting.inplay_training import (
    PARAMETERS,
    InPlayTraining,
    MatchTimelines,
    TrainingSet,
    train,
    training_set,
)
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.odds_book import OddsBook
from infra.forecasting.history import max_position, read_events
from infra.forecasting.model_file import dump_inplay_model

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
