"""The market-free models: time-decayed Poisson strengths, NBA Elo with a learnt home
advantage, and the results-only views that never see a price or a later result."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from domain.nba_ratings import NbaElo, NbaEloParameters
from forecasting.football.features import FeatureBuilder
from forecasting.football.goal_ratings import (
    GoalRatingParameters,
    GoalRatings,
    outcome_probabilities,
)
from forecasting.football.inputs import FixtureAnnounced, OddsOpened, ResultKnown
from forecasting.nba.features import NbaFeatureBuilder
from forecasting.nba.inputs import NbaGameResult, NbaGameScheduled, NbaMoneyline
from forecasting.nba.model import RESULTS_VIEW, NbaModelParameters, train_nba_model

START = datetime(2021, 8, 1, 15, tzinfo=UTC)


def test_two_equal_sides_at_a_neutral_ground_share_the_win_chances() -> None:
    home, draw, away = outcome_probabilities(1.3, 1.3)
    assert home == pytest.approx(away)
    assert home + draw + away == pytest.approx(1.0)
    # sum over k of Poisson(k; 1.3) squared = exp(-2.6) I0(2.6), about 0.2726.
    assert draw == pytest.approx(math.exp(-2.6) * _bessel_i0(2.6), abs=1e-6)


def test_the_low_score_term_moves_chances_between_the_low_scores_only() -> None:
    """Dixon-Coles: with rho < 0, 0-0 and 1-1 gain what 1-0 and 0-1 lose; the 1X2 is the sum
    of the adjusted score grid, computed here cell by cell."""
    lam, mu, rho = 1.4, 1.1, -0.1

    def cell(h: int, a: int) -> float:
        p = lam**h * math.exp(-lam) / math.factorial(h) * mu**a * math.exp(-mu) / math.factorial(a)
        tau = {(0, 0): 1 - lam * mu * rho, (0, 1): 1 + lam * rho, (1, 0): 1 + mu * rho}
        return p * tau.get((h, a), 1 - rho if (h, a) == (1, 1) else 1.0)

    grid = [[cell(h, a) for a in range(30)] for h in range(30)]
    total = sum(map(sum, grid))
    home = sum(grid[h][a] for h in range(30) for a in range(h)) / total
    draw = sum(grid[k][k] for k in range(30)) / total
    got = outcome_probabilities(lam, mu, rho=rho)
    assert got == pytest.approx((home, draw, 1 - home - draw), abs=1e-7)  # 12-goal grid
    independent = outcome_probabilities(lam, mu)
    assert got[1] > independent[1]  # more draws
    assert outcome_probabilities(lam, mu, rho=0.0) == independent


def _bessel_i0(x: float) -> float:
    return sum((x / 2.0) ** (2 * k) / math.factorial(k) ** 2 for k in range(40))


def test_poisson_strengths_recover_the_rates_that_made_the_goals() -> None:
    rng = np.random.default_rng(7)
    teams = [f"t{i}" for i in range(10)]
    attack = rng.normal(0.0, 0.3, 10)
    defence = rng.normal(0.0, 0.3, 10)
    ratings = GoalRatings(GoalRatingParameters(decay_per_day=0.0, ridge=0.01))
    for k in range(4000):
        h, a = rng.choice(10, 2, replace=False)
        home_goals = rng.poisson(math.exp(0.1 + 0.3 + attack[h] - defence[a]))
        away_goals = rng.poisson(math.exp(0.1 + attack[a] - defence[h]))
        ratings.record(
            teams[h], teams[a], int(home_goals), int(away_goals), START + timedelta(hours=k)
        )
    home_rate, away_rate = ratings.expected_goals("t0", "t1", START)
    assert home_rate == pytest.approx(math.exp(0.4 + attack[0] - defence[1]), rel=0.08)
    assert away_rate == pytest.approx(math.exp(0.1 + attack[1] - defence[0]), rel=0.08)


def test_recent_results_count_more_than_old_ones() -> None:
    decayed = GoalRatings(GoalRatingParameters(decay_per_day=0.01))
    flat = GoalRatings(GoalRatingParameters(decay_per_day=0.0))
    for ratings in (decayed, flat):
        for k in range(20):  # A used to beat B heavily ...
            ratings.record("A", "B", 4, 0, START + timedelta(days=k))
        for k in range(20):  # ... and lately loses to B
            ratings.record("A", "B", 0, 2, START + timedelta(days=300 + k))
    assert decayed.expected_goals("A", "B", START)[0] < flat.expected_goals("A", "B", START)[0]


def test_the_fit_depends_on_the_results_not_on_when_it_is_asked() -> None:
    """A forecaster that rebuilt its state after a restart (asking once, at the end) fits what
    an uninterrupted one (asking after every result) did, bit for bit."""
    results = [("A", "B", 2, 1), ("C", "A", 0, 0), ("B", "C", 3, 1), ("A", "C", 1, 2)] * 10
    asked_often, asked_once = GoalRatings(), GoalRatings()
    for k, (home, away, hg, ag) in enumerate(results):
        at = START + timedelta(days=k)
        asked_often.record(home, away, hg, ag, at)
        asked_often.expected_goals("A", "B", at)
        asked_once.record(home, away, hg, ag, at)
    end = START + timedelta(days=len(results))
    assert asked_often.expected_goals("B", "C", end) == asked_once.expected_goals("B", "C", end)


def test_a_builder_fitting_on_each_result_gives_the_rows_a_lazy_one_gives() -> None:
    """The live forecaster refits a league when a result arrives (so a quote's forecast never
    waits for the fit); the rows are those of a builder that fits when a quote asks."""
    rng = np.random.default_rng(11)
    teams = [f"t{i}" for i in range(8)]
    eager, lazy = FeatureBuilder(fit_on_result=True), FeatureBuilder()
    fitted_at_result = []
    for k in range(120):
        h, a = rng.choice(8, 2, replace=False)
        kickoff = START + timedelta(days=k)
        fixture = FixtureAnnounced(f"f{k}", "x/league", "2021-2022", teams[h], teams[a], kickoff)
        goals = (int(rng.poisson(1.5)), int(rng.poisson(1.1)))
        rows = []
        for builder in (eager, lazy):
            builder.apply(fixture)
            builder.apply(OddsOpened(f"f{k}", 2.1, 3.3, 3.6, kickoff - timedelta(hours=3)))
            rows.append(builder.features(f"f{k}"))
            builder.apply(ResultKnown(f"f{k}", *goals, kickoff + timedelta(hours=2)))
        assert rows[0] == rows[1]
        fitted_at_result.append(_goal_ratings(eager).up_to_date)
        assert not _goal_ratings(lazy).up_to_date  # fits when next asked
    assert all(fitted_at_result)
    lazy.refresh_fits()
    assert _goal_ratings(lazy).up_to_date


def _goal_ratings(builder: FeatureBuilder) -> GoalRatings:
    return builder._competitions["x/league"].goals


def announce(fixture_id: str, home: str, away: str, kickoff: datetime) -> FixtureAnnounced:
    return FixtureAnnounced(fixture_id, "x/league", "2021-2022", home, away, kickoff)


def test_results_features_at_kick_off_use_only_earlier_results() -> None:
    """No leakage: a later result (even of the same teams) leaves the row as it was."""
    first = announce("f1", "A", "B", START)
    second = announce("f2", "A", "B", START + timedelta(days=7))
    third = announce("f3", "B", "A", START + timedelta(days=14))
    builder, later = FeatureBuilder(), FeatureBuilder()
    for b in (builder, later):
        for fixture in (first, second, third):
            b.apply(fixture)
        b.apply(ResultKnown("f1", 3, 0, START + timedelta(hours=2)))
        b.apply(OddsOpened("f2", 2.0, 3.4, 3.8, START + timedelta(days=4)))
    before = builder.results_features("f2")
    later.apply(ResultKnown("f2", 0, 5, START + timedelta(days=7, hours=2)))
    assert later.results_features("f3") != before  # the later result does move the ratings
    assert builder.results_features("f2") == before
    assert before.poisson_home > before.poisson_away  # A won the only earlier meeting 3-0
    assert sum(before.poisson_probabilities()) == pytest.approx(1.0)


def test_results_features_need_no_odds_and_market_features_see_the_poisson_prior() -> None:
    builder = FeatureBuilder()
    builder.apply(announce("f1", "A", "B", START))
    builder.apply(announce("f2", "B", "A", START + timedelta(days=7)))
    builder.apply(ResultKnown("f1", 2, 0, START + timedelta(hours=2)))
    free = builder.results_features("f2")  # no quote for f2 at all
    builder.apply(OddsOpened("f2", 2.0, 3.4, 3.8, START + timedelta(days=4)))
    with_market = builder.features("f2")
    assert with_market.market_at_close == 0.0
    assert (with_market.poisson_home, with_market.poisson_away) == (
        free.poisson_home,
        free.poisson_away,
    )


def test_nba_home_advantage_follows_results() -> None:
    elo = NbaElo(NbaEloParameters(home_advantage_rate=5.0))
    start = elo.home_advantage
    for k in range(30):  # home sides keep losing
        elo.update(f"h{k}", f"a{k}", "2021", 90, 100)
    assert elo.home_advantage < start - 50
    fixed = NbaElo(NbaEloParameters(home_advantage_rate=0.0))
    fixed.update("h", "a", "2021", 90, 100)
    assert fixed.home_advantage == NbaEloParameters().home_advantage


def test_an_nba_game_without_a_line_has_results_only_features() -> None:
    builder = NbaFeatureBuilder()
    day = START.date()
    builder.schedule(NbaGameScheduled("g1", "2021", day, "bos", "nyk", False))
    builder.schedule(NbaGameScheduled("g2", "2021", day + timedelta(days=1), "nyk", "bos", False))
    builder.record(NbaGameResult("g1", 110, 90, (30, 30, 25, 25), (20, 25, 25, 20)))
    free = builder.features("g2", None)
    assert math.isnan(free.market_home)
    assert math.isnan(free.market_logit)
    assert free.elo_probability < 0.64  # bos won by 20: nyk's home edge shrinks
    quoted = builder.features("g2", NbaMoneyline("g2", "-150", "+130", "american"))
    assert quoted.elo_probability == free.elo_probability
    assert not math.isnan(quoted.market_logit)


def test_the_results_view_never_reads_a_market_column() -> None:
    """Trained on rows whose prices are pure noise, then given NaN prices: same forecasts."""
    rng = np.random.default_rng(3)
    builder = NbaFeatureBuilder()
    teams = [f"t{i}" for i in range(8)]
    rows_by_season = []
    day = START.date()
    for season in ("2016", "2017", "2018", "2019", "2020"):
        rows, wins = [], []
        for k in range(120):
            home, away = rng.choice(8, 2, replace=False)
            game = f"{season}-{k}"
            builder.schedule(NbaGameScheduled(game, season, day, teams[home], teams[away], False))
            line = NbaMoneyline(game, str(rng.choice(["-150", "-110"])), "+100", "american")
            rows.append(builder.features(game, line))
            home_points = int(100 + rng.integers(-15, 16) + 3 * (home - away))
            away_points = 100 if home_points != 100 else 99
            builder.record(NbaGameResult(game, home_points, away_points, (0,) * 4, (0,) * 4))
            wins.append(int(home_points > away_points))
            day += timedelta(days=1)
        rows_by_season.append((rows, np.array(wins, dtype=np.int64)))
    model = train_nba_model(rows_by_season, NbaModelParameters(max_iterations=40), RESULTS_VIEW)
    last_rows = rows_by_season[-1][0]
    blind = [
        type(r)(
            **{
                **r.__dict__,
                "market_home": math.nan,
                "market_logit": math.nan,
                "market_overround": math.nan,
                "elo_minus_market": math.nan,
            }
        )
        for r in last_rows
    ]
    assert np.array_equal(model.predict_home(last_rows), model.predict_home(blind))
