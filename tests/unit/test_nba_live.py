"""NbaGames: NBA forecasting moments from domain events alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.sport import Sport
from forecasting.nba.live import NbaGames, NbaOutcome, NbaPreGame, NbaQuarterEnd
from tests.nba_events import ET, QUARTERS, Game


class Feed:
    """NbaGames fed events at increasing positions; each call returns the moments they gave."""

    def __init__(self) -> None:
        self.games = NbaGames()
        self.position = 0

    def __call__(self, events: list[object]) -> list[object]:
        out = []
        for event in events:
            self.position += 1
            moment = self.games.learn(event, self.position)
            if moment is not None:
                out.append(moment)
        return out


def test_an_early_game_ending_before_a_late_line_does_not_leak_into_it() -> None:
    feed = Feed()
    early = Game("bos", "ny", datetime(2020, 1, 5, 13, tzinfo=ET))
    late = Game("ny2", "bos2", datetime(2020, 1, 5, 19, 30, tzinfo=ET))
    next_day = Game("bos", "lal", datetime(2020, 1, 6, 19, 30, tzinfo=ET))
    feed(early.scheduled() + late.scheduled() + next_day.scheduled())
    feed(early.quote("-150", "+130"))
    (outcome,) = [m for m in feed(early.play(QUARTERS)) if isinstance(m, NbaOutcome)]
    assert outcome.home_won
    # the early game is over before the late game's line: same day, so not yet applied
    (late_line,) = feed(late.quote("-120", "+100"))
    assert isinstance(late_line, NbaPreGame)
    assert late_line.features.home_season_games == late_line.features.away_season_games == 0.0
    # the next day sees it: Boston has played once, and won
    (next_line,) = feed(next_day.quote("+110", "-130"))
    assert isinstance(next_line, NbaPreGame)
    assert next_line.features.home_season_games == 1.0
    assert next_line.features.home_form_win_rate == 1.0
    assert feed.games.skipped_results == 0


def test_quarters_one_to_three_are_in_play_moments_with_the_last_line_as_prior() -> None:
    feed = Feed()
    game = Game("mia", "chi", datetime(2020, 2, 1, 19, 30, tzinfo=ET))
    feed(game.scheduled())
    first = feed(game.quote("-200", "+170", minutes_before=600))
    last = feed(game.quote("-150", "+130"))
    assert [type(m) for m in first + last] == [NbaPreGame, NbaPreGame]
    assert isinstance(last[0], NbaPreGame)
    assert last[0].market == pytest.approx(game.book.latest.probabilities)  # type: ignore[union-attr]
    assert len(last[0].inputs) == 3  # the announcement, the first quote, this quote
    moments = feed(game.play(QUARTERS))
    ends = [m for m in moments if isinstance(m, NbaQuarterEnd)]
    assert [(e.state.quarter, e.state.home_lead) for e in ends] == [(1, 5), (2, -3), (3, 2)]
    assert all(e.market == last[0].market for e in ends)
    assert all(e.state.pregame_home == last[0].market[0] for e in ends)
    (outcome,) = [m for m in moments if isinstance(m, NbaOutcome)]
    assert outcome.pregame == last[0]
    assert [s.quarter for s in outcome.quarters] == [1, 2, 3]


def test_a_line_after_tip_off_and_football_fixtures_give_nothing() -> None:
    feed = Feed()
    game = Game("mia", "chi", datetime(2020, 2, 1, 19, 30, tzinfo=ET))
    football = Game("ars", "che", datetime(2020, 2, 1, 15, tzinfo=UTC), sport=Sport.FOOTBALL)
    feed(game.scheduled() + football.scheduled())
    assert not feed.games.follows(football.fixture.id)
    assert feed(game.quote("-150", "+130", minutes_before=-5)) == []  # in play already
    assert feed(football.play([(1, 0), (0, 0)])) == []
