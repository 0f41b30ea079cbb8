"""In-play training states rebuilt from the feed's domain events (no CSVs, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands.odds import RecordOdds, record_odds
from domain.fixture import Fixture
from domain.in_match import CardKind
from domain.odds import MarginMethod, Market, Outcome, PriceFormat, QuoteStage
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from forecasting.inplay.model import SAMPLED_MINUTES, MatchState, TimelineEvent, pool_of
from forecasting.inplay.training import (
    MatchTimelines,
    PlayedMatch,
    train,
    training_set,
)

KICKOFF = datetime(2018, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="test", received_at=KICKOFF)


def fixture(competition: str, home: str, away: str, kickoff: datetime = KICKOFF) -> Fixture:
    return Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition=competition,
        season=competition[:4],
        home=home,
        away=away,
        kickoff=kickoff,
        venue=None,
        provenance=FEED,
    )


def quote(match: Fixture, prices: tuple[str, str, str], at: datetime) -> list[object]:
    """A 1X2 quote through the odds command, as the feed records it."""
    command = RecordOdds(
        idempotency_key=f"odds-{match.id}-{at.isoformat()}",
        provenance=FEED,
        fixture_id=match.id,
        source="market-average",
        market=Market.MATCH_RESULT,
        prices=dict(zip((Outcome.HOME, Outcome.DRAW, Outcome.AWAY), prices, strict=True)),
        price_format=PriceFormat.DECIMAL,
        margin_method=MarginMethod.PROPORTIONAL,
        quoted_at=at,
        stage=QuoteStage.CLOSING,
    )
    book = record_odds(command, None, match)
    return list(book.collect_events())


def world_cup_final() -> tuple[Fixture, list[object]]:
    """France 2-1 after extra time, 1-1 after 90; an own goal, 45+2 and a second yellow."""
    final = fixture("2018 FIFA Men's World Cup", "France", "Croatia")
    final.start(KICKOFF, FEED)
    final.record_goal(side=Side.HOME, minute=18, own_goal=True, provenance=FEED)
    final.record_card(card=CardKind.YELLOW, side=Side.AWAY, minute=27, provenance=FEED)
    final.record_card(card=CardKind.SECOND_YELLOW, side=Side.AWAY, minute=44, provenance=FEED)
    final.record_goal(side=Side.AWAY, minute=45, stoppage=2, provenance=FEED)
    final.end_period(1, Score(1, 1), FEED)
    final.record_card(card=CardKind.RED, side=Side.HOME, minute=80, provenance=FEED)
    final.end_period(2, Score(1, 1), FEED)
    final.record_goal(side=Side.HOME, minute=105, stoppage=1, provenance=FEED)
    final.finish(Score(2, 1), FEED)
    return final, list(final.collect_events())


def league_match(
    home: str, away: str, half_time: Score | None, result: Score, kickoff: datetime = KICKOFF
) -> list[object]:
    """Odds before kick-off and (ignored by the prior) one after it, half-time and result."""
    match = fixture("ENG-Premier League", home, away, kickoff)
    events: list[object] = list(match.collect_events())
    events += quote(match, ("2.50", "3.40", "3.00"), kickoff - timedelta(days=3))
    events += quote(match, ("2.00", "3.50", "4.00"), kickoff - timedelta(minutes=5))
    match.start(kickoff, FEED)
    events += quote(match, ("1.20", "6.00", "15.00"), kickoff + timedelta(minutes=30))
    if half_time is not None:
        match.end_period(1, half_time, FEED)
    match.finish(result, FEED)
    return events + list(match.collect_events())


def test_timeline_prior_half_time_and_result_are_rebuilt_from_fixture_events() -> None:
    final, final_events = world_cup_final()
    timelines = MatchTimelines()
    for event in [*final_events, *league_match("Arsenal", "Leeds", Score(1, 0), Score(2, 0))]:
        timelines.apply(event)

    world_cup, league = sorted(timelines.finished(), key=lambda m: m.competition)
    assert world_cup.fixture_id == final.id
    assert world_cup.timeline == [
        TimelineEvent("goal", 18, home=True),  # an own goal counts for the side credited
        TimelineEvent("sending-off", 44, home=False),  # second yellow; the first is no event
        TimelineEvent("goal", 45, home=False),  # 45+2 is labelled 45
        TimelineEvent("sending-off", 80, home=True),
        TimelineEvent("goal", 105, home=True, extra_time=True),
    ]
    assert (world_cup.half_time, world_cup.final, world_cup.market_prior) == ((1, 1), (2, 1), None)
    assert world_cup.goals_account_for_result
    assert timelines.competitions_with_goals == {"2018 FIFA Men's World Cup"}
    # The last quote before kick-off, margin-free (proportional): 1/2, 1/3.5, 1/4 normalised.
    assert league.market_prior == pytest.approx(
        (0.5 / 1.0357, 0.2857 / 1.0357, 0.25 / 1.0357), 1e-3
    )
    assert (league.half_time, league.final) == ((1, 0), (2, 0))


def test_world_cup_matches_give_every_sampled_minute_and_the_90_minute_result() -> None:
    _, final_events = world_cup_final()
    timelines = MatchTimelines()
    for event in final_events:
        timelines.apply(event)

    data = training_set(timelines.finished(), timelines.competitions_with_goals)

    assert [s.state.minute for s in data.samples] == list(SAMPLED_MINUTES)
    assert {s.outcome for s in data.samples} == {1}  # 1-1 after 90: a draw, not France's win
    at_half_time = data.samples[SAMPLED_MINUTES.index(45)].state
    assert (at_half_time.home_goals, at_half_time.away_goals, at_half_time.away_reds) == (1, 1, 1)
    assert data.samples[-1].state.home_reds == 1  # 85'
    assert not any(s.market for s in data.samples)
    home, draw, away = data.samples[0].state.prior
    assert home == pytest.approx(away)  # two unrated teams: an even Elo prior
    assert draw > 0.0


def test_elo_prior_learns_from_an_earlier_edition_of_the_same_competition() -> None:
    timelines = MatchTimelines()
    for year in (2014, 2018):
        ko = datetime(year, 7, 1, 15, tzinfo=UTC)
        match = fixture(f"{year} FIFA Men's World Cup", "France", "Croatia", ko)
        match.start(ko, FEED)
        match.record_goal(side=Side.HOME, minute=10, provenance=FEED)
        match.record_goal(side=Side.HOME, minute=20, provenance=FEED)
        match.finish(Score(2, 0), FEED)
        for event in match.collect_events():
            timelines.apply(event)

    first, second = (
        s.state.prior
        for s in training_set(timelines.finished(), timelines.competitions_with_goals).samples[
            :: len(SAMPLED_MINUTES)
        ]
    )

    assert pool_of("2014 FIFA Men's World Cup") == pool_of("2018 FIFA Men's World Cup")
    assert first[0] == pytest.approx(first[2])
    assert second[0] > second[2]  # France won the earlier edition


def test_league_matches_give_half_time_only_and_incomplete_matches_are_skipped() -> None:
    timelines = MatchTimelines()
    events = [
        *league_match("Arsenal", "Leeds", Score(0, 1), Score(2, 1)),
        *league_match("Everton", "Fulham", None, Score(0, 0)),  # no half-time score
    ]
    _, final_events = world_cup_final()
    broken = fixture("2018 FIFA Men's World Cup", "Spain", "Russia")
    broken.start(KICKOFF, FEED)
    broken.finish(Score(1, 1), FEED)  # goals missing from the feed: no timeline to trust
    for event in [*events, *final_events, *broken.collect_events()]:
        timelines.apply(event)

    data = training_set(timelines.finished(), timelines.competitions_with_goals)

    league = [s for s in data.samples if s.market]
    assert [(s.state.minute, s.state.home_goals, s.state.away_goals) for s in league] == [
        (45, 0, 1)
    ]
    assert league[0].outcome == 0
    assert (data.matches, data.skipped) == (2, 2)


def test_training_needs_a_holdout() -> None:
    match = PlayedMatch(
        fixture_id=Fixture.create_id(Sport.FOOTBALL, "x", KICKOFF, "A", "B"),
        competition="x",
        kickoff=KICKOFF,
        home="A",
        away="B",
        market_prior=(0.5, 0.3, 0.2),
        half_time=(0, 0),
        final=(1, 0),
    )
    data = training_set([match], [])
    assert [s.state for s in data.samples] == [MatchState(45, 0, 0, 0, 0, (0.5, 0.3, 0.2))]
    with pytest.raises(ValueError, match="too few"):
        train(data)


def test_the_latest_fifth_of_fixtures_is_the_holdout() -> None:
    timelines = MatchTimelines()
    teams = ["Arsenal", "Leeds", "Everton", "Fulham", "Burnley", "Wolves"]
    for day in range(10):
        kickoff = KICKOFF + timedelta(days=day)
        home, away = teams[day % 6], teams[(day + 1) % 6]
        for event in league_match(home, away, Score(0, 0), Score(1, 0), kickoff):
            timelines.apply(event)

    data = training_set(timelines.finished(), timelines.competitions_with_goals)

    assert [s.holdout for s in data.samples] == [False] * 8 + [True] * 2
