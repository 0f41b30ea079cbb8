"""Reads the feed's NBA games from the event store, trains both NBA models, writes the artifact.

Notifications 1..cut-off, only the event types `NbaGames` reads, so a run names exactly the log
prefix it saw. The CSVs are never read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from eventsourcing.utils import get_topic

from commands.forecasting.nba_training import NbaTraining, NbaTrainingSet, train, training_set
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.odds_book import OddsBook
from infra.forecasting.history import max_position, read_events
from infra.forecasting.inplay_history import write_atomically
from infra.forecasting.nba_model_file import dump_nba_models

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
    data = dump_nba_models(run.pregame, run.inplay)
    write_atomically(out, data)
    return NbaArtifact(run, position, out, len(data), time.perf_counter() - started)
