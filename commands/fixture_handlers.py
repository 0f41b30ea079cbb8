"""Handlers for fixture commands: plain functions from a command and the current Fixture (None
when it does not exist yet) to the Fixture with new pending events. Loading, saving and
idempotency belong to the application service that calls them."""

from __future__ import annotations

from typing import assert_never
from uuid import UUID

from commands.fixture import (
    AbandonFixture,
    CorrectResult,
    EndPeriod,
    FinishFixture,
    FixtureCommand,
    GrantFixtureWriter,
    PostponeFixture,
    RecordCard,
    RecordGoal,
    RescheduleFixture,
    ScheduleFixture,
    StartFixture,
)
from domain.errors import FixtureAlreadyScheduled, FixtureNotFound
from domain.fixture import Fixture


def schedule_fixture(cmd: ScheduleFixture, fixture: Fixture | None) -> Fixture:
    if fixture is not None:
        raise FixtureAlreadyScheduled(
            f"{cmd.home} v {cmd.away} on {cmd.kickoff.date()} is already scheduled"
            f" as fixture {fixture.id}"
        )
    return Fixture.schedule(
        sport=cmd.sport,
        competition=cmd.competition,
        season=cmd.season,
        home=cmd.home,
        away=cmd.away,
        kickoff=cmd.kickoff,
        venue=cmd.venue,
        venue_country=cmd.venue_country,
        provenance=cmd.provenance,
    )


def reschedule_fixture(cmd: RescheduleFixture, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.reschedule(cmd.kickoff, cmd.venue, cmd.provenance, cmd.venue_country)
    return found


def postpone_fixture(cmd: PostponeFixture, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.postpone(cmd.reason, cmd.provenance)
    return found


def abandon_fixture(cmd: AbandonFixture, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.abandon(cmd.reason, cmd.provenance)
    return found


def start_fixture(cmd: StartFixture, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.start(cmd.started_at, cmd.provenance)
    return found


def record_goal(cmd: RecordGoal, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.record_goal(
        side=cmd.side,
        minute=cmd.minute,
        stoppage=cmd.stoppage,
        player=cmd.player,
        own_goal=cmd.own_goal,
        penalty=cmd.penalty,
        provenance=cmd.provenance,
    )
    return found


def record_card(cmd: RecordCard, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.record_card(
        card=cmd.card,
        side=cmd.side,
        minute=cmd.minute,
        stoppage=cmd.stoppage,
        player=cmd.player,
        provenance=cmd.provenance,
    )
    return found


def end_period(cmd: EndPeriod, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.end_period(cmd.period, cmd.score, cmd.provenance)
    return found


def finish_fixture(cmd: FinishFixture, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.finish(cmd.score, cmd.provenance)
    return found


def correct_result(cmd: CorrectResult, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.correct_result(cmd.score, cmd.reason, cmd.provenance)
    return found


def grant_fixture_writer(cmd: GrantFixtureWriter, fixture: Fixture | None) -> Fixture:
    found = existing(fixture, cmd.fixture_id)
    found.grant_writer(cmd.provider, cmd.provenance)
    return found


def handle_fixture_command(cmd: FixtureCommand, fixture: Fixture | None) -> Fixture:
    """The one dispatch table for fixture commands; mypy checks it covers every command.

    A fixture is changed only by the providers that may write it (the one that scheduled it,
    and those an admin granted); a grant is the admin's own command."""
    if fixture is not None and not isinstance(cmd, ScheduleFixture | GrantFixtureWriter):
        fixture.check_writer(cmd.provenance.source)
    match cmd:
        case ScheduleFixture():
            return schedule_fixture(cmd, fixture)
        case RescheduleFixture():
            return reschedule_fixture(cmd, fixture)
        case PostponeFixture():
            return postpone_fixture(cmd, fixture)
        case AbandonFixture():
            return abandon_fixture(cmd, fixture)
        case StartFixture():
            return start_fixture(cmd, fixture)
        case RecordGoal():
            return record_goal(cmd, fixture)
        case RecordCard():
            return record_card(cmd, fixture)
        case EndPeriod():
            return end_period(cmd, fixture)
        case FinishFixture():
            return finish_fixture(cmd, fixture)
        case CorrectResult():
            return correct_result(cmd, fixture)
        case GrantFixtureWriter():
            return grant_fixture_writer(cmd, fixture)
        case _:
            assert_never(cmd)


def target_fixture_id(cmd: FixtureCommand) -> UUID:
    """The fixture a command is about, so the application service knows what to load."""
    return cmd.fixture_id


def existing(fixture: Fixture | None, expected_id: UUID) -> Fixture:
    if fixture is None:
        raise FixtureNotFound(f"no fixture {expected_id} has been scheduled")
    if fixture.id != expected_id:
        # The caller loaded the wrong stream: a bug, not something a feed can cause.
        raise ValueError(f"command for fixture {expected_id} was given fixture {fixture.id}")
    return fixture
