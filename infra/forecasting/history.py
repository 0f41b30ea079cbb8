"""Reads the feed's history from the event store into forecasting inputs and training rows.

Everything up to a cut-off notification id, so a training run names exactly the log prefix it
saw and can be repeated. Only the event types the translator uses are fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eventsourcing.utils import get_topic

from commands.forecasting.from_events import InputTranslator
from commands.forecasting.inputs import ForecastInput
from commands.forecasting.training_set import TrainingRow, build_rows
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.odds_book import OddsBook

PAGE = 5000
TOPICS = tuple(
    get_topic(cls)
    for cls in (
        Fixture.Scheduled,
        Fixture.Rescheduled,
        Fixture.Finished,
        OddsBook.Opened,
        OddsBook.OddsQuoted,
    )
)


@dataclass(frozen=True)
class History:
    rows: list[TrainingRow]
    cutoff_position: int


def max_position(feeds: FeedIngestion) -> int:
    return feeds.recorder.max_notification_id() or 0


def read_inputs(feeds: FeedIngestion, *, cutoff: int) -> Iterator[ForecastInput]:
    """Forecasting inputs of notifications 1..cutoff, in log order."""
    translator = InputTranslator()
    start = 1
    while start <= cutoff:
        page = feeds.recorder.select_notifications(
            start=start, limit=PAGE, stop=cutoff, topics=TOPICS, inclusive_of_start=True
        )
        if not page:
            return
        for notification in page:
            translated = translator.translate(feeds.mapper.to_domain_event(notification))
            if translated is not None:
                yield translated
        start = page[-1].id + 1


def read_history(feeds: FeedIngestion, *, cutoff: int | None = None) -> History:
    """Training rows from the log up to `cutoff` (default: everything stored now)."""
    position = max_position(feeds) if cutoff is None else cutoff
    return History(build_rows(read_inputs(feeds, cutoff=position)), position)
