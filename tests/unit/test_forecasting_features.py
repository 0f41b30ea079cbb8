"""Features for a fixture depend only on what was known at the forecast moment."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from forecasting.errors import ForecastTooLateError
from forecasting.football.features import (
    LEAGUE_WINDOW,
    EventOutOfOrderError,
    FeatureBuilder,
    ImpossibleOddsError,
    MissingOpeningOddsError,
    UnknownFixtureError,
    event_order,
    features_as_of,
)
from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsOpened,
    ResultKnown,
)

TEAMS = ("Ajax", "PSV", "Feyenoord", "AZ", "Twente", "Utrecht")
ODDS_LEAD = timedelta(days=3)
RESULT_LAG = timedelta(hours=2)


def _season_history(seed: int = 7) -> list[ForecastInput]:
    """Two double round-robin seasons, three matches at the same kick-off each round."""
    rng = random.Random(seed)
    events: list[ForecastInput] = []
    kickoff = datetime(2021, 8, 7, 18, 0, tzinfo=UTC)
    for season in ("2021-2022", "2022-2023"):
        pairings = [(h, a) for h in TEAMS for a in TEAMS if h != a]
        rng.shuffle(pairings)
        for first in range(0, len(pairings), 3):
            for home, away in pairings[first : first + 3]:
                fixture_id = f"nl/{kickoff:%Y-%m-%d %H:%M}/{home}/{away}"
                events.append(FixtureAnnounced(fixture_id, "nl", season, home, away, kickoff))
                prices = (rng.uniform(1.5, 4.0), rng.uniform(3.0, 4.0), rng.uniform(1.8, 6.0))
                prices = _with_margin(prices)
                events.append(OddsOpened(fixture_id, *prices, at=kickoff - ODDS_LEAD))
                moved = _with_margin((prices[0] * rng.uniform(0.9, 1.1), prices[1], prices[2]))
                events.append(OddsClosed(fixture_id, *moved, at=kickoff))
                events.append(
                    ResultKnown(
                        fixture_id, rng.randint(0, 4), rng.randint(0, 3), at=kickoff + RESULT_LAG
                    )
                )
            kickoff += timedelta(days=rng.choice((3, 4, 7)))
        kickoff += timedelta(days=60)
    return events


def _with_margin(prices: tuple[float, float, float]) -> tuple[float, float, float]:
    booked = sum(1.0 / p for p in prices)
    scale = booked / 1.05  # a 5% overround, so the prices are possible
    return (prices[0] * scale, prices[1] * scale, prices[2] * scale)


HISTORY = _season_history()
ANNOUNCED = [e for e in HISTORY if isinstance(e, FixtureAnnounced)]
OPENINGS = [e for e in HISTORY if isinstance(e, OddsOpened)]
# Fixtures late in the history, so plenty of results come before them and after them.
PROBES = OPENINGS[len(OPENINGS) // 2 :: 5]


def _kickoff(fixture_id: str) -> datetime:
    return next(e.kickoff for e in ANNOUNCED if e.fixture_id == fixture_id)


def _known_before(moment: datetime) -> list[ForecastInput]:
    return [e for e in HISTORY if isinstance(e, FixtureAnnounced) or e.at < moment]


def _timed(events: list[ForecastInput]) -> list[OddsOpened | OddsClosed | ResultKnown]:
    return [e for e in events if not isinstance(e, FixtureAnnounced)]


@pytest.mark.parametrize("opening", PROBES, ids=lambda e: e.fixture_id)
def test_full_history_gives_the_same_features_as_history_truncated_at_kickoff(
    opening: OddsOpened,
) -> None:
    kickoff = _kickoff(opening.fixture_id)
    for moment in (opening.at, kickoff - timedelta(seconds=1)):
        full = features_as_of(HISTORY, opening.fixture_id, moment)
        truncated = features_as_of(_known_before(kickoff), opening.fixture_id, moment)
        assert full == truncated


@pytest.mark.parametrize("opening", PROBES, ids=lambda e: e.fixture_id)
def test_shuffled_or_rewritten_future_events_change_nothing(opening: OddsOpened) -> None:
    moment = opening.at
    expected = features_as_of(HISTORY, opening.fixture_id, moment)
    rng = random.Random(opening.fixture_id)
    past = [e for e in HISTORY if isinstance(e, FixtureAnnounced) or e.at <= moment]
    future = [e for e in _timed(HISTORY) if e.at > moment]
    rng.shuffle(future)
    assert features_as_of([*past, *future], opening.fixture_id, moment) == expected
    # Turn every later result and closing line upside down: if any leaked in, features would move.
    rewritten = [_upside_down(e) for e in future]
    everything = [*past, *rewritten]
    rng.shuffle(everything)
    assert features_as_of(everything, opening.fixture_id, moment) == expected


def _upside_down(event: OddsOpened | OddsClosed | ResultKnown) -> ForecastInput:
    if isinstance(event, ResultKnown):
        return dataclasses.replace(
            event, home_goals=event.away_goals + 3, away_goals=event.home_goals
        )
    if isinstance(event, OddsClosed):
        return dataclasses.replace(event, home=event.away, away=event.home)
    return event


def test_a_fixtures_own_closing_line_never_reaches_its_features() -> None:
    opening = PROBES[0]
    last_moment = _kickoff(opening.fixture_id) - timedelta(seconds=1)
    expected = features_as_of(HISTORY, opening.fixture_id, last_moment)
    own_close_moved = [
        dataclasses.replace(e, home=1.01, draw=30.0, away=60.0)
        if isinstance(e, OddsClosed) and e.fixture_id == opening.fixture_id
        else e
        for e in HISTORY
    ]
    assert features_as_of(own_close_moved, opening.fixture_id, last_moment) == expected


def test_past_results_and_closing_lines_do_shape_the_features() -> None:
    opening = PROBES[0]
    with_all = features_as_of(HISTORY, opening.fixture_id, opening.at)
    without_past = [e for e in HISTORY if not isinstance(e, ResultKnown | OddsClosed)]
    with_none = features_as_of(without_past, opening.fixture_id, opening.at)
    # Sanity check for the tests above: past results and closing lines do move the features.
    assert with_all.elo_gap != with_none.elo_gap
    assert with_all.market_rating_logit != with_none.market_rating_logit
    assert with_all.home_market_drift != with_none.home_market_drift
    assert with_all.market_home == with_none.market_home


def test_streaming_builder_snapshot_at_odds_open_matches_the_replay() -> None:
    builder = FeatureBuilder()
    for announced in ANNOUNCED:
        builder.apply(announced)
    for event in sorted(_timed(HISTORY), key=event_order):
        builder.apply(event)
        if isinstance(event, OddsOpened) and event in PROBES:
            assert builder.features(event.fixture_id) == features_as_of(
                HISTORY, event.fixture_id, event.at
            )


def test_market_features_are_margin_free_probabilities() -> None:
    opening = PROBES[0]
    features = features_as_of(HISTORY, opening.fixture_id, opening.at)
    assert sum(features.market_probabilities()) == pytest.approx(1.0)
    assert features.market_margin == pytest.approx(0.05)


def test_builder_refuses_an_event_older_than_its_clock() -> None:
    builder = FeatureBuilder()
    for announced in ANNOUNCED:
        builder.apply(announced)
    timed = sorted(_timed(HISTORY), key=event_order)
    builder.apply(timed[10])
    with pytest.raises(EventOutOfOrderError, match="arrived after") as caught:
        builder.apply(timed[0])
    assert caught.value.code == "event-out-of-order"


def test_no_pre_match_features_once_the_clock_passes_kickoff() -> None:
    opening = PROBES[0]
    kickoff = _kickoff(opening.fixture_id)
    with pytest.raises(ForecastTooLateError, match="kicked off"):
        features_as_of(HISTORY, opening.fixture_id, kickoff + RESULT_LAG)


def test_features_need_the_opening_odds() -> None:
    opening = PROBES[0]
    with pytest.raises(MissingOpeningOddsError):
        features_as_of(HISTORY, opening.fixture_id, opening.at - timedelta(seconds=1))


def test_impossible_opening_odds_are_rejected() -> None:
    builder = FeatureBuilder()
    builder.apply(ANNOUNCED[0])
    # 1/2.2 + 1/3.6 + 1/4.0 = 0.98: a guaranteed profit, so the feed is wrong.
    bad = OddsOpened(ANNOUNCED[0].fixture_id, 2.2, 3.6, 4.0, at=ANNOUNCED[0].kickoff)
    with pytest.raises(ImpossibleOddsError, match=r"sum to 0\.98") as caught:
        builder.apply(bad)
    assert caught.value.code == "impossible-odds"


def test_events_for_an_unannounced_fixture_are_rejected() -> None:
    builder = FeatureBuilder()
    with pytest.raises(UnknownFixtureError, match="never announced"):
        builder.apply(ResultKnown("nl/ghost", 1, 0, at=datetime(2022, 1, 1, tzinfo=UTC)))


def test_league_rates_count_exactly_the_last_league_window_results() -> None:
    rng = random.Random(3)
    builder = FeatureBuilder()
    kickoff = datetime(2020, 1, 1, 15, tzinfo=UTC)
    outcomes: list[int] = []
    for n in range(LEAGUE_WINDOW + 150):  # the window fills, then slides
        fixture_id = f"f{n}"
        home, away = rng.sample(TEAMS, 2)
        builder.apply(FixtureAnnounced(fixture_id, "nl", "2020", home, away, kickoff))
        builder.apply(OddsOpened(fixture_id, 2.2, 3.4, 3.3, at=kickoff - ODDS_LEAD))
        if n % 97 == 0 or n >= LEAGUE_WINDOW + 140:
            seen = outcomes[-LEAGUE_WINDOW:]
            got = builder.features(fixture_id)
            assert got.league_home_rate == (seen.count(0) + 0.45 * 50.0) / (len(seen) + 50.0)
            assert got.league_draw_rate == (seen.count(1) + 0.26 * 50.0) / (len(seen) + 50.0)
        home_goals, away_goals = rng.randint(0, 3), rng.randint(0, 3)
        builder.apply(ResultKnown(fixture_id, home_goals, away_goals, at=kickoff + RESULT_LAG))
        outcomes.append(0 if home_goals > away_goals else 1 if home_goals == away_goals else 2)
        kickoff += ODDS_LEAD + timedelta(days=1)  # odds open after the last result
