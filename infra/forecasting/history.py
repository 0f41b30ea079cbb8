"""Reads the feed's history from the event store into forecasting inputs and training rows.

Everything up to a cut-off notification id, so a training run names exactly the log prefix it
saw and can be repeated. Only the event types the translator uses are fetched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def read_events(
    feeds: FeedIngestion, *, cutoff: int, topics: Sequence[str], page: int = PAGE
) -> Iterator[tuple[int, object]]:
    """(notification id, domain event) of notifications 1..cutoff with these topics, in order."""
    start = 1
    while start <= cutoff:
        notifications = feeds.recorder.select_notifications(
            start=start, limit=page, stop=cutoff, topics=topics, inclusive_of_start=True
        )
        if not notifications:
            return
        for notification in notifications:
            yield notification.id, feeds.mapper.to_domain_event(notification)
        start = notifications[-1].id + 1


def read_inputs(feeds: FeedIngestion, *, cutoff: int) -> Iterator[ForecastInput]:
    """Forecasting inputs of notifications 1..cutoff, in log order."""
    translator = InputTranslator()
    for _, event in read_events(feeds, cutoff=cutoff, topics=TOPICS):
        translated = translator.translate(event)
        if translated is not None:
            yield translated


def read_history(feeds: FeedIngestion, *, cutoff: int | None = None) -> History:
    """Training rows from the log up to `cutoff` (default: everything stored now)."""
    position = max_position(feeds) if cutoff is None else cutoff
    return History(build_rows(read_inputs(feeds, cutoff=position)), position)
