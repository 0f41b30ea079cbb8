"""Command handlers: a command and the current aggregate in, the aggregate with new events out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commands.fixture import (
    AbandonFixture,
    CorrectResult,
    EndPeriod,
    FinishFixture,
    FixtureCommand,
    PostponeFixture,
    RecordCard,
    RecordGoal,
    RescheduleFixture,
    ScheduleFixture,
    StartFixture,
)
from commands.fixture_handlers import handle_fixture_command
from commands.odds import RecordOdds, record_odds
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.in_match import CardKind
from domain.odds import MarginMethod, Market, Outcome, PriceFormat, QuoteStage
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from domain.status import FixtureStatus

KICKOFF = datetime(2016, 3, 5, 12, 45, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF, source_event_id="42")
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
FIXTURE_ID = SCHEDULE.fixture_id


def scheduled() -> Fixture:
    return handle_fixture_command(SCHEDULE, None)


def test_a_whole_match_runs_through_the_dispatcher() -> None:
    def key(n: int) -> str:
        return f"k{n}"

    commands: list[FixtureCommand] = [
        PostponeFixture(idempotency_key=key(1), provenance=FEED, fixture_id=FIXTURE_ID),
        RescheduleFixture(
            idempotency_key=key(2), provenance=FEED, fixture_id=FIXTURE_ID, kickoff=KICKOFF
        ),
        StartFixture(idempotency_key=key(3), provenance=FEED, fixture_id=FIXTURE_ID),
        RecordGoal(
            idempotency_key=key(4),
            provenance=FEED,
            fixture_id=FIXTURE_ID,
            side=Side.AWAY,
            minute=33,
        ),
        RecordCard(
            idempotency_key=key(5),
            provenance=FEED,
            fixture_id=FIXTURE_ID,
            card=CardKind.SECOND_YELLOW,
            side=Side.HOME,
            minute=52,
        ),
        EndPeriod(
            idempotency_key=key(6),
            provenance=FEED,
            fixture_id=FIXTURE_ID,
            period=1,
            score=Score(0, 1),
        ),
        FinishFixture(
            idempotency_key=key(7), provenance=FEED, fixture_id=FIXTURE_ID, score=Score(2, 2)
        ),
        CorrectResult(
            idempotency_key=key(8),
            provenance=FEED,
            fixture_id=FIXTURE_ID,
            score=Score(0, 3),
            reason="forfeit",
        ),
    ]
    fixture = scheduled()
    for command in commands:
        fixture = handle_fixture_command(command, fixture)
    events = fixture.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Scheduled",
        "Postponed",
        "Rescheduled",
        "Started",
        "GoalScored",
        "CardShown",
        "PeriodEnded",
        "Finished",
        "ResultCorrected",
    ]
    assert fixture.result == Score(0, 3)


def test_abandon_command_abandons() -> None:
    fixture = handle_fixture_command(
        AbandonFixture(idempotency_key="a", provenance=FEED, fixture_id=FIXTURE_ID, reason="fog"),
        scheduled(),
    )
    assert fixture.status == FixtureStatus.ABANDONED


def test_scheduling_an_existing_fixture_is_rejected() -> None:
    with pytest.raises(DomainError) as raised:
        handle_fixture_command(SCHEDULE, scheduled())
    assert raised.value.code == "fixture-already-scheduled"


def test_a_command_for_an_unknown_fixture_is_rejected() -> None:
    with pytest.raises(DomainError) as raised:
        handle_fixture_command(
            StartFixture(idempotency_key="s", provenance=FEED, fixture_id=FIXTURE_ID), None
        )
    assert raised.value.code == "fixture-not-found"


def record(stage: QuoteStage | None = QuoteStage.OPENING) -> RecordOdds:
    return RecordOdds(
        idempotency_key="odds-1",
        provenance=FEED,
        fixture_id=FIXTURE_ID,
        source="market-average",
        market=Market.MATCH_RESULT,
        prices={Outcome.HOME: "2.10", Outcome.DRAW: "3.30", Outcome.AWAY: "3.40"},
        price_format=PriceFormat.DECIMAL,
        margin_method=MarginMethod.PROPORTIONAL,
        quoted_at=KICKOFF,
        stage=stage,
    )


def test_record_odds_opens_the_book_on_the_first_quote_and_appends_after() -> None:
    fixture = scheduled()
    book = record_odds(record(), None, fixture)
    assert book.id == record().odds_book_id
    book = record_odds(record(QuoteStage.CLOSING), book, fixture)
    assert [type(e).__name__ for e in book.collect_events()] == [
        "Opened",
        "OddsQuoted",
        "OddsQuoted",
    ]
    assert book.closing_line is not None
    assert book.closing_line.margin_method == MarginMethod.PROPORTIONAL


def test_record_odds_needs_the_fixture() -> None:
    with pytest.raises(DomainError) as raised:
        record_odds(record(), None, None)
    assert raised.value.code == "fixture-not-found"
