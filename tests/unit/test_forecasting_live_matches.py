"""Match states for the in-play model, kept from a started fixture's own events."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.fixture import Fixture
from domain.in_match import CardKind
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from forecasting.inplay.live_matches import LiveMatches
from forecasting.inplay.model import MatchState

KICKOFF = datetime(2018, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="worldcup", received_at=KICKOFF)
PRIOR = (0.5, 0.3, 0.2)


def match() -> Fixture:
    fixture = Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="world-cup",
        season="2018",
        home="France",
        away="Croatia",
        kickoff=KICKOFF,
        venue=None,
        provenance=FEED,
    )
    fixture.start(KICKOFF, FEED)
    fixture.collect_events()
    return fixture


def states(fixture: Fixture, live: LiveMatches) -> list[MatchState | None]:
    out = []
    for i, event in enumerate(fixture.collect_events(), start=100):
        moment = live.apply(event, i)
        out.append(None if moment is None else moment.state)
    return out


def test_goals_cards_and_half_time_each_give_the_state_after_them() -> None:
    fixture, live = match(), LiveMatches()
    live.start(fixture.id, PRIOR)
    fixture.record_goal(side=Side.HOME, minute=18, own_goal=True, provenance=FEED)
    fixture.record_card(card=CardKind.YELLOW, side=Side.AWAY, minute=27, provenance=FEED)
    fixture.record_card(card=CardKind.SECOND_YELLOW, side=Side.AWAY, minute=44, provenance=FEED)
    fixture.record_goal(side=Side.AWAY, minute=45, stoppage=2, provenance=FEED)
    fixture.end_period(1, Score(1, 1), FEED)
    fixture.record_card(card=CardKind.RED, side=Side.HOME, minute=80, provenance=FEED)
    fixture.end_period(2, Score(1, 1), FEED)
    assert states(fixture, live) == [
        MatchState(18, 1, 0, 0, 0, PRIOR),
        MatchState(27, 1, 0, 0, 0, PRIOR),
        MatchState(44, 1, 0, 0, 1, PRIOR),
        MatchState(45, 1, 1, 0, 1, PRIOR),  # 45+2 counts at 45, as in the evaluation
        MatchState(45, 1, 1, 0, 1, PRIOR),
        MatchState(80, 1, 1, 1, 1, PRIOR),
        MatchState(90, 1, 1, 1, 1, PRIOR),
    ]


def test_extra_time_unstarted_fixtures_and_fixtures_without_a_market_give_nothing() -> None:
    fixture, live = match(), LiveMatches()
    fixture.record_goal(side=Side.HOME, minute=10, provenance=FEED)
    assert states(fixture, live) == [None]  # never seen starting

    live.start(fixture.id, None)
    fixture.record_goal(side=Side.HOME, minute=20, provenance=FEED)
    assert states(fixture, live) == [None]  # no pre-match market to start from

    live.start(fixture.id, PRIOR)
    fixture.end_period(1, Score(2, 0), FEED)
    fixture.end_period(2, Score(2, 2), FEED)
    fixture.end_period(3, Score(2, 2), FEED)
    fixture.record_goal(side=Side.AWAY, minute=105, provenance=FEED)
    assert states(fixture, live) == [
        MatchState(45, 2, 0, 0, 0, PRIOR),
        MatchState(90, 2, 2, 0, 0, PRIOR),
        None,  # extra time: the model forecasts the result after 90 minutes
        None,
    ]
