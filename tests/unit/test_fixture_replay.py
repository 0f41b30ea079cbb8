"""Replaying a fixture's events rebuilds exactly the same fixture; ids are deterministic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from domain.fixture import Fixture
from domain.fixture_id import fixture_id
from domain.in_match import CardKind
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport

KICKOFF = datetime(2018, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="worldcup", received_at=KICKOFF, payload_ref="s3://raw/m64.json")


def replay(events: list[Fixture.Event]) -> Fixture:
    rebuilt: Fixture | None = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    return rebuilt


def test_replaying_a_full_match_rebuilds_the_same_fixture() -> None:
    match = Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="world-cup",
        season="2018",
        home="France",
        away="Croatia",
        kickoff=KICKOFF - timedelta(days=1),
        venue=None,
        provenance=FEED,
    )
    match.postpone("storm", FEED)
    match.reschedule(KICKOFF, "Luzhniki", FEED)
    match.start(KICKOFF, FEED)
    match.record_goal(side=Side.HOME, minute=18, own_goal=True, provenance=FEED)
    match.record_card(
        card=CardKind.YELLOW, side=Side.HOME, minute=27, player="Kanté", provenance=FEED
    )
    match.end_period(1, Score(2, 1), FEED)
    match.finish(Score(4, 2), FEED)
    match.correct_result(Score(4, 1), "goal wrongly credited", FEED)
    events = list(match.collect_events())

    rebuilt = replay(events)  # type: ignore[arg-type]

    assert rebuilt == match
    assert rebuilt.version == len(events) == 9
    assert (rebuilt.result, rebuilt.kickoff, rebuilt.venue) == (Score(4, 1), KICKOFF, "Luzhniki")
    assert all(event.provenance == FEED for event in events)  # type: ignore[attr-defined]


def test_fixture_id_is_the_same_for_the_same_fixture_from_any_feed() -> None:
    in_paris = KICKOFF.astimezone(timezone(timedelta(hours=2)))
    assert fixture_id(Sport.FOOTBALL, "World Cup", KICKOFF, "France", "Croatia") == fixture_id(
        Sport.FOOTBALL, " world  cup", in_paris, "FRANCE", "croatia "
    )


def test_a_play_off_rematch_in_the_same_season_gets_its_own_id() -> None:
    first = fixture_id(Sport.FOOTBALL, "jupiler-pro-league", KICKOFF, "Genk", "Club Brugge")
    rematch = fixture_id(
        Sport.FOOTBALL, "jupiler-pro-league", KICKOFF + timedelta(days=21), "Genk", "Club Brugge"
    )
    reverse = fixture_id(Sport.FOOTBALL, "jupiler-pro-league", KICKOFF, "Club Brugge", "Genk")
    assert len({first, rematch, reverse}) == 3


def test_the_aggregate_takes_its_id_from_fixture_id() -> None:
    match = Fixture.schedule(
        sport=Sport.BASKETBALL,
        competition="nba",
        season="2008",
        home="sa",
        away="por",
        kickoff=KICKOFF,
        venue=None,
        provenance=FEED,
    )
    assert match.id == fixture_id(Sport.BASKETBALL, "nba", KICKOFF, "sa", "por")
