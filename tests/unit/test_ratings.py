"""Elo, pi- and market ratings move the right way, by the right amount, and start newcomers low."""

from __future__ import annotations

import math

import pytest

from domain.ratings import (
    EloParameters,
    EloRatings,
    MarketRatingParameters,
    MarketRatings,
    PiParameters,
    PiRatings,
)


def test_elo_expected_score_includes_home_advantage() -> None:
    elo = EloRatings(EloParameters(home_advantage=0.0))
    assert elo.expected("A", "B") == pytest.approx(0.5)
    elo = EloRatings(EloParameters(home_advantage=400.0))
    assert elo.expected("A", "B") == pytest.approx(10 / 11)


def test_elo_one_goal_win_moves_k_times_the_surprise() -> None:
    elo = EloRatings(EloParameters(k=20.0, home_advantage=0.0))
    elo.update("A", "B", 1, 0)
    assert elo.rating("A") == pytest.approx(1510.0)
    assert elo.rating("B") == pytest.approx(1490.0)


def test_elo_bigger_margins_move_ratings_more() -> None:
    elo = EloRatings(EloParameters(k=20.0, home_advantage=0.0))
    elo.update("A", "B", 4, 0)
    # Multiplier (11 + 4) / 8 for a four-goal margin.
    assert elo.rating("A") == pytest.approx(1500.0 + 20.0 * 15 / 8 * 0.5)


def test_elo_draw_between_equals_changes_nothing() -> None:
    elo = EloRatings(EloParameters(home_advantage=0.0))
    elo.update("A", "B", 2, 2)
    assert elo.rating("A") == pytest.approx(1500.0)
    assert elo.matches_rated("A") == 1


def test_elo_newcomer_to_an_established_table_starts_below_average() -> None:
    elo = EloRatings(EloParameters(established_after=2, newcomer_offset=-80.0))
    assert elo.rating("Promoted") == 1500.0
    elo.update("A", "B", 1, 1)
    elo.update("C", "D", 1, 1)
    assert elo.rating("Promoted") == 1420.0


def test_ratings_reject_negative_goals() -> None:
    with pytest.raises(ValueError, match="negative"):
        EloRatings().update("A", "B", -1, 0)
    with pytest.raises(ValueError, match="negative"):
        PiRatings().update("A", "B", 0, -2)


def test_pi_rating_home_win_raises_home_side_and_lowers_away_side() -> None:
    pi = PiRatings(PiParameters(learning_rate=0.1, cross_learning_rate=0.5, scale=3.0))
    assert pi.expected("A", "B") == 0.0
    pi.update("A", "B", 2, 0)
    # Error 2 goals: step = 3 * log10(3) * 0.1.
    step = 3.0 * 0.47712125471966244 * 0.1
    assert pi.rating("A").home == pytest.approx(step)
    assert pi.rating("A").away == pytest.approx(step * 0.5)
    assert pi.rating("B").away == pytest.approx(-step)
    assert pi.rating("B").home == pytest.approx(-step * 0.5)
    assert pi.expected("A", "B") > 0.0


def test_market_ratings_move_toward_the_closing_view() -> None:
    market = MarketRatings(
        MarketRatingParameters(
            learning_rate=0.5, home_advantage=0.0, home_advantage_learning_rate=0.0
        )
    )
    # Closing expected score 0.75 is a logit of ln 3: each side moves half of it.
    market.update("A", "B", 0.75)
    assert market.rating("A") == pytest.approx(0.5 * math.log(3.0))
    assert market.rating("B") == pytest.approx(-0.5 * math.log(3.0))
    assert market.expected_logit("A", "B") == pytest.approx(math.log(3.0))


def test_market_ratings_learn_the_home_advantage() -> None:
    market = MarketRatings(MarketRatingParameters(home_advantage_learning_rate=0.1))
    before = market.home_advantage
    market.update("A", "B", 0.9)
    assert market.home_advantage > before


def test_market_ratings_reject_an_impossible_expected_score() -> None:
    with pytest.raises(ValueError, match="strictly between"):
        MarketRatings().update("A", "B", 1.0)
