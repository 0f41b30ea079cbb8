"""Reads the feed's history from the event store into forecasting inputs and training rows.

Everything up to a cut-off notification id, so a training run names exactly the log prefix it
saw and can be repeated. Only the event types the translator uses are fetched, and of those only
the fields it uses are decoded (stored_fields.py); quotes of odds books it does not follow are
not decoded at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from forecasting.football.from_events import InputTranslator
from forecasting.football.inputs import ForecastInput
from forecasting.football.training_set import TrainingRow, build_rows
from infra.forecasting.stored_fields import TOPICS, FieldDecoder

# Notifications per read. Large: a read filtered by topic may pass up to 10,000 messages more
# than it returns (wire_reads.py), which the next page passes again.
PAGE = 50_000


@dataclass(frozen=True)
class History:
    rows: list[TrainingRow]
    cutoff_position: int


def max_position(feeds: FeedIngestion) -> int:
    return feeds.recorder.max_notification_id() or 0


def position_before(feeds: FeedIngestion, until: datetime) -> int:
    """The cut-off position of the log as of `until`: everything stored before the first match
    (any sport) that kicked off at or after it, so no result, quote or in-match event of a
    match from `until` on is in. The whole log when none has. Replays store in event-time order
    (one lane exactly, parallel lanes per competition), so this is the log a trainer would
    have had on that date."""
    if until.tzinfo is None:
        raise ValueError(f"--until needs a time zone: {until.isoformat()}")
    cutoff = max_position(feeds)
    for position, event in read_events(feeds, cutoff=cutoff, topics=_STARTED):
        assert isinstance(event, Fixture.Started)
        if event.started_at is not None and event.started_at >= until:
            return position - 1
    return cutoff


_STARTED = (get_topic(Fixture.Started),)


def read_notifications(
    feeds: FeedIngestion, *, cutoff: int, topics: Sequence[str], page: int = PAGE
) -> Iterator[Sequence[Notification]]:
    """Pages of the stored notifications 1..cutoff with these topics, in order.

    The next page is read in a thread while the caller works on this one: reading waits on the
    server for much of its time, which decoding can use."""

    def select(start: int) -> Sequence[Notification]:
        return feeds.recorder.select_notifications(
            start=start, limit=page, stop=cutoff, topics=topics, inclusive_of_start=True
        )

    if cutoff < 1:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="history-read") as reader:
        pending = reader.submit(select, 1)
        while True:
            notifications = pending.result()
            if not notifications:
                return
            start = notifications[-1].id + 1
            if start <= cutoff:
                pending = reader.submit(select, start)
            yield notifications
            if start > cutoff:
                return


def read_events(
    feeds: FeedIngestion, *, cutoff: int, topics: Sequence[str], page: int = PAGE
) -> Iterator[tuple[int, object]]:
    """(notification id, domain event) of notifications 1..cutoff with these topics, in order."""
    to_domain_event = feeds.mapper.to_domain_event
    for notifications in read_notifications(feeds, cutoff=cutoff, topics=topics, page=page):
        for notification in notifications:
            yield notification.id, to_domain_event(notification)


def read_inputs(feeds: FeedIngestion, *, cutoff: int) -> Iterator[ForecastInput]:
    """Forecasting inputs of notifications 1..cutoff, in log order."""
    translator = InputTranslator()
    decoder = FieldDecoder.for_mapper(feeds.mapper, translator)
    if decoder is None:  # a cipher, compressor or other transcoder: whole domain events
        for _, event in read_events(feeds, cutoff=cutoff, topics=TOPICS):
            translated = translator.translate(event)
            if translated is not None:
                yield translated
        return
    translate = decoder.translate
    for notifications in read_notifications(feeds, cutoff=cutoff, topics=TOPICS, page=PAGE):
        for notification in notifications:
            translated = translate(notification)
            if translated is not None:
                yield translated


def read_history(feeds: FeedIngestion, *, cutoff: int | None = None) -> History:
    """Training rows from the log up to `cutoff` (default: everything stored now)."""
    position = max_position(feeds) if cutoff is None else cutoff
    return History(build_rows(read_inputs(feeds, cutoff=position)), position)
