"""The ingestion service stores each command's events once, with a receipt, or rejects it whole.

Runs on eventsourcing's in-memory (POPO) recorder; the same service on the JetStream event store
is covered by the integration tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from commands.cache import AggregateCache
from commands.fixture import FinishFixture, RecordGoal, ScheduleFixture, StartFixture
from commands.ingestion import Accepted, FeedIngestion
from commands.odds import RecordOdds
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.odds import MarginMethod, Market, Outcome, PriceFormat, QuoteStage
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport

KICKOFF = datetime(2016, 3, 5, 12, 45, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF, source_event_id="42", payload_ref="sha256:x")
SCHEDULE = ScheduleFixture(
    idempotency_key="schedule-1",
    provenance=FEED,
    sport=Sport.FOOTBALL,
    competition="premier-league",
    season="2015-2016",
    home="Arsenal",
    away="Spurs",
    kickoff=KICKOFF,
)
FID = SCHEDULE.fixture_id


def odds(key: str, prices: tuple[str, str, str] = ("2.10", "3.40", "3.60")) -> RecordOdds:
    return RecordOdds(
        idempotency_key=key,
        provenance=FEED,
        fixture_id=FID,
        source="market-average",
        market=Market.MATCH_RESULT,
        prices=dict(zip((Outcome.HOME, Outcome.DRAW, Outcome.AWAY), prices, strict=True)),
        price_format=PriceFormat.DECIMAL,
        margin_method=MarginMethod.SHIN,
        quoted_at=KICKOFF - timedelta(days=2),
        stage=QuoteStage.OPENING,
    )


@pytest.fixture
def app() -> FeedIngestion:
    return FeedIngestion(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def stored(app: FeedIngestion) -> int:
    return app.recorder.max_notification_id() or 0


def test_accepted_command_reports_where_its_events_are(app: FeedIngestion) -> None:
    accepted = app.handle(SCHEDULE)
    assert accepted.aggregate_id == FID
    assert (accepted.from_version, accepted.to_version) == (1, 1)
    assert not accepted.duplicate
    assert len(accepted.notification_ids) == 1
    assert stored(app) == 2  # the event and its receipt


def test_resending_a_key_stores_nothing_and_returns_the_original_outcome(
    app: FeedIngestion,
) -> None:
    first = app.handle(SCHEDULE)
    before = stored(app)
    again = app.handle(SCHEDULE)
    assert stored(app) == before
    assert again.duplicate
    assert (again.aggregate_id, again.from_version, again.to_version) == (
        first.aggregate_id,
        first.from_version,
        first.to_version,
    )


def test_rejected_command_writes_nothing_and_says_why(app: FeedIngestion) -> None:
    app.handle(SCHEDULE)
    before = stored(app)
    goal = RecordGoal(
        idempotency_key="g1", provenance=FEED, fixture_id=FID, side=Side.HOME, minute=3
    )
    with pytest.raises(DomainError) as rejected:
        app.handle(goal)
    assert rejected.value.code == "fixture-not-started"
    assert stored(app) == before
    # the key was not used up by the rejection: once the match starts, the same goal is accepted
    app.handle(StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID))
    assert not app.handle(goal).duplicate


def test_events_round_trip_through_the_store_with_their_value_objects(app: FeedIngestion) -> None:
    app.handle(SCHEDULE)
    app.handle(StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID))
    app.handle(
        RecordGoal(idempotency_key="g1", provenance=FEED, fixture_id=FID, side=Side.AWAY, minute=9)
    )
    fixture = app.repository.get(FID)
    assert isinstance(fixture, Fixture)
    assert fixture.score == Score(0, 1)
    events = list(app.events.get(FID))
    assert all(e.provenance == FEED for e in events)  # type: ignore[attr-defined]


def test_odds_go_to_their_book_and_stop_after_the_result(app: FeedIngestion) -> None:
    app.handle(SCHEDULE)
    accepted = app.handle(odds("o1"))
    book = app.repository.get(accepted.aggregate_id)
    assert isinstance(book, OddsBook)
    assert book.opening is not None
    assert book.opening.raw_prices == ("2.10", "3.40", "3.60")
    assert abs(sum(book.opening.probabilities) - 1) < 1e-9
    app.handle(StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID))
    app.handle(
        FinishFixture(idempotency_key="ft", provenance=FEED, fixture_id=FID, score=Score(1, 0))
    )
    with pytest.raises(DomainError) as rejected:
        app.handle(odds("o2"))
    assert rejected.value.code == "odds-after-result"


def test_impossible_prices_are_rejected_before_anything_is_stored(app: FeedIngestion) -> None:
    app.handle(SCHEDULE)
    before = stored(app)
    with pytest.raises(DomainError) as rejected:
        app.handle(odds("bad", ("3.50", "3.60", "3.70")))  # implied probabilities sum to 0.83
    assert rejected.value.code == "impossible-book"
    assert stored(app) == before


def test_resent_goal_is_caught_by_its_receipt_not_stored_twice(app: FeedIngestion) -> None:
    app.handle(SCHEDULE)
    app.handle(StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID))
    goal = RecordGoal(
        idempotency_key="g1", provenance=FEED, fixture_id=FID, side=Side.HOME, minute=3
    )
    first = app.handle(goal)
    again = app.handle(goal)
    assert again.duplicate
    assert (again.from_version, again.to_version) == (first.from_version, first.to_version)
    fixture = app.repository.get(FID)
    assert isinstance(fixture, Fixture)
    assert fixture.score == Score(1, 0)


def test_many_commands_in_one_save_keep_their_order_and_receipts(app: FeedIngestion) -> None:
    commands = [
        SCHEDULE,
        odds("o1"),
        StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID),
        RecordGoal(idempotency_key="g1", provenance=FEED, fixture_id=FID, side=Side.HOME, minute=3),
    ]
    outcomes = app.handle_many(commands)
    assert [type(o).__name__ for o in outcomes] == ["Accepted"] * 4
    topics = [n.topic.rsplit(".", 1)[-1] for n in app.recorder.select_notifications(1, 100)]
    assert topics == [
        "Scheduled", "Issued", "Opened", "OddsQuoted", "Issued", "Started", "Issued",
        "GoalScored", "Issued",
    ]  # fmt: skip
    fixture = app.repository.get(FID)
    assert isinstance(fixture, Fixture)
    assert fixture.score == Score(1, 0)


def test_a_refused_command_in_a_batch_leaves_the_others_stored(app: FeedIngestion) -> None:
    early_goal = RecordGoal(
        idempotency_key="g0", provenance=FEED, fixture_id=FID, side=Side.HOME, minute=1
    )
    outcomes = app.handle_many([SCHEDULE, early_goal, odds("o1")])
    assert isinstance(outcomes[1], DomainError)
    assert outcomes[1].code == "fixture-not-started"
    assert not isinstance(outcomes[0], DomainError)
    assert not isinstance(outcomes[2], DomainError)
    assert stored(app) == 5  # scheduled + receipt, opened + quoted + receipt


def test_a_resent_batch_adds_nothing_and_is_all_duplicates(app: FeedIngestion) -> None:
    batch = [
        SCHEDULE,
        odds("o1"),
        StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID),
        FinishFixture(idempotency_key="ft", provenance=FEED, fixture_id=FID, score=Score(1, 0)),
    ]
    app.handle_many(batch)
    before = stored(app)
    # re-sent whole, and re-sent after the fixture moved on (odds now refused by the domain)
    for again in (app.handle_many(batch), app.handle_many(batch[1:2])):
        assert all(not isinstance(o, DomainError) and o.duplicate for o in again), again
    assert stored(app) == before


def forget_cache(app: FeedIngestion) -> None:
    """As if another process had written: nothing this instance saved is cached."""
    app._cache = AggregateCache(app._cache.maxsize)


def test_a_run_creating_what_already_exists_is_decided_again_from_the_store(
    app: FeedIngestion,
) -> None:
    app.handle(SCHEDULE)
    app.handle(odds("o1"))
    forget_cache(app)
    before = stored(app)
    saves = count_saves(app)
    # the first pass takes the uncached fixture and book as new; the save clashes with them
    again_scheduled = replace(SCHEDULE, idempotency_key="schedule-again")
    outcomes = app.handle_many([again_scheduled, odds("o2", ("2.00", "3.50", "3.80"))])
    assert isinstance(outcomes[0], DomainError)
    assert outcomes[0].code == "fixture-already-scheduled"
    assert isinstance(outcomes[1], Accepted)
    assert (outcomes[1].from_version, outcomes[1].to_version) == (3, 3)
    assert stored(app) == before + 2  # the second quote and its receipt
    assert saves == [5, 2]  # the clash (both commands as creations), then the quote alone
    book = app.repository.get(outcomes[1].aggregate_id)
    assert isinstance(book, OddsBook)
    assert book.quote_count == 2


def test_a_key_repeated_within_a_run_is_stored_once(app: FeedIngestion) -> None:
    outcomes = app.handle_many([SCHEDULE, odds("o1"), odds("o1")])
    first, repeated = outcomes[1], outcomes[2]
    assert isinstance(first, Accepted)
    assert isinstance(repeated, Accepted)
    assert repeated.duplicate
    assert not first.duplicate
    assert (repeated.aggregate_id, repeated.to_version) == (first.aggregate_id, first.to_version)
    assert stored(app) == 5  # scheduled + receipt, opened + quoted + receipt


def test_a_long_run_is_saved_in_parts_that_end_at_command_boundaries() -> None:
    app = FeedIngestion(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, max_save_events=4)
    saves = count_saves(app)
    commands = [
        SCHEDULE,
        odds("o1"),
        StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID),
    ]
    outcomes = app.handle_many(commands)
    assert all(isinstance(o, Accepted) and not o.duplicate for o in outcomes)
    assert saves == [2, 3, 2]  # never a command's events apart from its receipt
    topics = [n.topic.rsplit(".", 1)[-1] for n in app.recorder.select_notifications(1, 100)]
    assert topics == ["Scheduled", "Issued", "Opened", "OddsQuoted", "Issued", "Started", "Issued"]


def test_a_clash_in_a_later_part_keeps_the_parts_saved_before_it() -> None:
    app = FeedIngestion(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, max_save_events=2)
    app.handle(SCHEDULE)
    app.handle(odds("o1"))
    forget_cache(app)
    saves = count_saves(app)
    other = replace(SCHEDULE, idempotency_key="other", home="Chelsea", away="Everton")
    # part one: a new fixture; part two: a quote for the uncached book, first taken as new
    outcomes = app.handle_many([other, odds("o2", ("2.00", "3.50", "3.80"))])
    assert saves == [2, 3, 2]  # the fixture; the clash (opened + quoted + receipt); the quote
    assert isinstance(outcomes[0], Accepted)
    assert outcomes[0].from_version == 1
    assert isinstance(outcomes[1], Accepted)
    assert outcomes[1].from_version == 3
    assert app.repository.get(other.fixture_id).version == 1
    book = app.repository.get(outcomes[1].aggregate_id)
    assert isinstance(book, OddsBook)
    assert book.quote_count == 2


def count_saves(app: FeedIngestion) -> list[int]:
    """The number of events in each save the app attempts from now on."""
    saves: list[int] = []
    insert = app.recorder.insert_events

    def counting(events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        saves.append(len(events))
        return insert(events, **kwargs)

    app.recorder.insert_events = counting  # type: ignore[method-assign]
    return saves


def test_a_resent_run_is_answered_from_receipts_without_trying_to_save(
    app: FeedIngestion,
) -> None:
    batch = [
        SCHEDULE,
        odds("o1"),
        StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID),
    ]
    first = app.handle_many(batch)
    forget_cache(app)
    saves = count_saves(app)
    again = app.handle_many(batch)
    assert saves == []
    assert [(o.aggregate_id, o.to_version) for o in again if isinstance(o, Accepted)] == [
        (o.aggregate_id, o.to_version) for o in first if isinstance(o, Accepted)
    ]
    assert all(isinstance(o, Accepted) and o.duplicate for o in again)
