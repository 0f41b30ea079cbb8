"""The Fixture aggregate's rules: each broken rule is rejected with its stable code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import DomainError
from domain.fixture import Fixture
from domain.in_match import CardKind
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from domain.status import FixtureStatus

KICKOFF = datetime(2018, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="worldcup", received_at=KICKOFF, source_event_id="M-2018-64")


def fixture(sport: Sport = Sport.FOOTBALL, *, started: bool = False) -> Fixture:
    scheduled = Fixture.schedule(
        sport=sport,
        competition="world-cup",
        season="2018",
        home="France",
        away="Croatia",
        kickoff=KICKOFF,
        venue="Luzhniki",
        provenance=FEED,
    )
    if started:
        scheduled.start(KICKOFF, FEED)
    return scheduled


def finished(score: Score = Score(4, 2)) -> Fixture:
    match = fixture(started=True)
    match.finish(score, FEED)
    return match


class _Rejected:
    """``with _Rejected("code"):`` passes only if a DomainError with that code is raised."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, _tb: object) -> bool:
        assert isinstance(error, DomainError), f"expected DomainError {self.code!r}, got {error!r}"
        assert error.code == self.code, f"expected {self.code!r}, got {error.code!r}: {error}"
        assert error.message
        return True


def test_goal_before_start_is_rejected() -> None:
    with _Rejected("fixture-not-started"):
        fixture().record_goal(side=Side.HOME, minute=18, provenance=FEED)


def test_card_before_start_is_rejected() -> None:
    with _Rejected("fixture-not-started"):
        fixture().record_card(card=CardKind.YELLOW, side=Side.AWAY, minute=3, provenance=FEED)


def test_in_match_events_after_finish_are_rejected() -> None:
    with _Rejected("fixture-finished"):
        finished().record_goal(side=Side.HOME, minute=90, stoppage=4, provenance=FEED)
    with _Rejected("fixture-finished"):
        finished().record_card(card=CardKind.RED, side=Side.HOME, minute=90, provenance=FEED)
    with _Rejected("fixture-finished"):
        finished().end_period(2, Score(4, 2), FEED)
    with _Rejected("fixture-finished"):
        finished().finish(Score(4, 2), FEED)


def test_a_postponed_or_abandoned_fixture_cannot_start() -> None:
    postponed = fixture()
    postponed.postpone("waterlogged pitch", FEED)
    with _Rejected("fixture-not-playable"):
        postponed.start(None, FEED)
    abandoned = fixture(started=True)
    abandoned.abandon("floodlight failure", FEED)
    with _Rejected("fixture-not-playable"):
        abandoned.record_goal(side=Side.HOME, minute=70, provenance=FEED)
    with _Rejected("illegal-transition"):
        abandoned.abandon("again", FEED)


def test_starting_twice_is_rejected() -> None:
    with _Rejected("fixture-already-started"):
        fixture(started=True).start(None, FEED)


def test_period_score_cannot_go_backwards() -> None:
    match = fixture(started=True)
    match.record_goal(side=Side.HOME, minute=18, own_goal=True, provenance=FEED)
    with _Rejected("score-went-backwards"):
        match.end_period(1, Score(0, 0), FEED)


def test_final_score_lower_than_recorded_goals_is_rejected() -> None:
    match = fixture(started=True)
    match.record_goal(side=Side.HOME, minute=18, provenance=FEED)
    match.record_goal(side=Side.AWAY, minute=28, provenance=FEED)
    with _Rejected("score-went-backwards"):
        match.finish(Score(1, 0), FEED)


def test_finish_without_goal_events_is_accepted_as_in_the_results_dataset() -> None:
    match = fixture(started=True)
    match.end_period(1, Score(2, 1), FEED)
    match.finish(Score(4, 2), FEED)
    assert match.status == FixtureStatus.FINISHED
    assert match.result == Score(4, 2)
    assert match.goals_recorded == Score(0, 0)


def test_goals_keep_a_running_score_that_a_later_period_may_catch_up_with() -> None:
    match = fixture(started=True)
    match.record_goal(side=Side.HOME, minute=18, own_goal=True, provenance=FEED)
    match.record_goal(side=Side.AWAY, minute=28, player="Perišić", provenance=FEED)
    match.record_goal(side=Side.HOME, minute=38, penalty=True, provenance=FEED)
    assert match.score == Score(2, 1)
    match.end_period(1, Score(2, 1), FEED)
    match.end_period(2, Score(4, 2), FEED)  # the feed skipped two goal messages
    match.record_goal(side=Side.AWAY, minute=95, provenance=FEED)
    assert match.score == Score(4, 3)


def test_periods_must_come_in_order() -> None:
    match = fixture(started=True)
    match.end_period(2, Score(0, 0), FEED)  # a missed half-time message is tolerated
    with _Rejected("period-out-of-order"):
        match.end_period(1, Score(0, 0), FEED)
    with _Rejected("invalid-period"):
        match.end_period(5, Score(0, 0), FEED)


def test_basketball_quarters_and_overtimes_end_with_running_scores() -> None:
    game = fixture(Sport.BASKETBALL, started=True)
    for quarter, score in enumerate([Score(29, 26), Score(59, 49), Score(81, 77)], start=1):
        game.end_period(quarter, score, FEED)
    game.end_period(4, Score(100, 100), FEED)
    game.end_period(5, Score(106, 97 + 5), FEED)
    game.finish(Score(106, 102), FEED)
    assert game.period_scores[5] == Score(106, 102)


def test_basketball_has_no_goals_cards_or_level_results() -> None:
    game = fixture(Sport.BASKETBALL, started=True)
    with _Rejected("not-for-sport"):
        game.record_goal(side=Side.HOME, minute=3, provenance=FEED)
    with _Rejected("not-for-sport"):
        game.record_card(card=CardKind.RED, side=Side.HOME, minute=3, provenance=FEED)
    with _Rejected("invalid-score"):
        game.finish(Score(99, 99), FEED)


def test_result_can_only_be_corrected_after_finish_and_with_a_reason() -> None:
    with _Rejected("fixture-not-finished"):
        fixture(started=True).correct_result(Score(1, 0), "appeal upheld", FEED)
    with _Rejected("invalid-correction"):
        finished().correct_result(Score(3, 0), " ", FEED)
    with _Rejected("invalid-correction"):
        finished(Score(4, 2)).correct_result(Score(4, 2), "no change", FEED)


def test_correction_may_lower_the_score() -> None:
    match = finished(Score(4, 2))
    match.correct_result(Score(3, 0), "awarded 3-0: ineligible player", FEED)
    assert match.result == Score(3, 0)
    event = match.collect_events()[-1]
    assert isinstance(event, Fixture.ResultCorrected)
    assert (event.previous, event.score) == (Score(4, 2), Score(3, 0))


def test_reschedule_and_postpone_only_before_play() -> None:
    match = fixture()
    match.postpone(None, FEED)
    with _Rejected("illegal-transition"):
        match.postpone(None, FEED)
    match.reschedule(KICKOFF + timedelta(days=3), "Stade de France", FEED)
    assert match.status == FixtureStatus.SCHEDULED
    assert match.kickoff == KICKOFF + timedelta(days=3)
    match.start(None, FEED)
    with _Rejected("illegal-transition"):
        match.reschedule(KICKOFF + timedelta(days=7), None, FEED)
    with _Rejected("illegal-transition"):
        match.postpone(None, FEED)


@pytest.mark.parametrize(("minute", "stoppage"), [(-1, 0), (121, 0), (90, -1), (90, 31)])
def test_impossible_minutes_are_rejected(minute: int, stoppage: int) -> None:
    with _Rejected("invalid-minute"):
        fixture(started=True).record_goal(
            side=Side.HOME, minute=minute, stoppage=stoppage, provenance=FEED
        )


def test_a_goal_is_not_both_an_own_goal_and_a_penalty() -> None:
    with _Rejected("invalid-goal"):
        fixture(started=True).record_goal(
            side=Side.HOME, minute=10, own_goal=True, penalty=True, provenance=FEED
        )


@pytest.mark.parametrize(
    ("home", "away", "kickoff"),
    [
        ("France", " france ", KICKOFF),
        ("", "Croatia", KICKOFF),
        ("France", "Croatia", KICKOFF.replace(tzinfo=None)),
    ],
)
def test_impossible_fixtures_are_rejected(home: str, away: str, kickoff: datetime) -> None:
    with _Rejected("invalid-fixture"):
        Fixture.schedule(
            sport=Sport.FOOTBALL,
            competition="world-cup",
            season="2018",
            home=home,
            away=away,
            kickoff=kickoff,
            venue=None,
            provenance=FEED,
        )


def test_scores_and_provenance_reject_impossible_values() -> None:
    with _Rejected("invalid-score"):
        Score(-1, 0)
    with _Rejected("invalid-provenance"):
        Provenance(source="feed", received_at=datetime(2018, 7, 15))
    with _Rejected("invalid-provenance"):
        Provenance(source=" ", received_at=KICKOFF)
