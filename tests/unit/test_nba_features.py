"""NBA pre-game features: American odds, margin removal, and no peeking at later games."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from domain.errors import ImpossibleBook, InvalidPrice
from forecasting.errors import ForecastTooLateError
from forecasting.nba.features import (
    ImplausibleMoneylineError,
    NbaFeatureBuilder,
    ResultOutOfOrderError,
    features_as_of,
    moneyline_home_probability,
    walk_forward_features,
)
from forecasting.nba.inputs import NbaGameResult, NbaGameScheduled, NbaMoneyline

TEAMS = ("bos", "ny", "phi", "bkn", "tor", "mia")


def _league(seed: int = 3) -> tuple[list[NbaGameScheduled], list[NbaGameResult]]:
    rng = random.Random(seed)
    games: list[NbaGameScheduled] = []
    results: list[NbaGameResult] = []
    day = date(2021, 10, 19)
    for season in ("2022", "2023"):
        for _ in range(20):  # two games a day, each team at most once, as in the NBA
            teams = rng.sample(TEAMS, 4)
            for home, away in ((teams[0], teams[1]), (teams[2], teams[3])):
                game_id = f"{day}/{home}/{away}"
                games.append(NbaGameScheduled(game_id, season, day, home, away, playoffs=False))
                hq = (rng.randint(18, 35), rng.randint(18, 35), rng.randint(18, 35), 30)
                aq = (rng.randint(18, 35), rng.randint(18, 35), rng.randint(18, 35), 31)
                if sum(hq) == sum(aq):
                    hq = (hq[0] + 1, hq[1], hq[2], hq[3])
                results.append(NbaGameResult(game_id, sum(hq), sum(aq), hq, aq))
            day += timedelta(days=rng.choice((1, 1, 2)))
        day += timedelta(days=150)
    return games, results


LINE = NbaMoneyline("any", "-175", "+155")


def test_american_odds_become_margin_free_home_probability() -> None:
    # -175 -> decimal 1 + 100/175 = 2.7142857; +155 -> 2.55. Implied 0.636364 + 0.392157.
    probability, overround = moneyline_home_probability(LINE)
    implied_home, implied_away = 175 / 275, 100 / 255
    assert probability == pytest.approx(implied_home / (implied_home + implied_away), abs=1e-12)
    assert overround == pytest.approx(implied_home + implied_away - 1.0, abs=1e-12)


def test_evens_line_on_both_sides_gives_one_half() -> None:
    probability, overround = moneyline_home_probability(NbaMoneyline("g", "+100", "-100"))
    assert probability == pytest.approx(0.5)
    assert overround == pytest.approx(0.0, abs=1e-12)


def test_home_and_away_probabilities_sum_to_one() -> None:
    home, _ = moneyline_home_probability(NbaMoneyline("g", "-300", "+250"))
    away, _ = moneyline_home_probability(NbaMoneyline("g", "+250", "-300"))
    assert home + away == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("home", "away", "error"),
    [
        ("-300", "8", InvalidPrice),  # no American price lies between -100 and +100
        ("+240", "-200", ImpossibleBook),  # implied sum 0.961: a guaranteed profit
        ("-650", "-650", ImplausibleMoneylineError),  # two favourites: a data error
    ],
)
def test_unusable_moneylines_are_rejected(home: str, away: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        moneyline_home_probability(NbaMoneyline("g", home, away))


def test_features_ignore_later_games_and_result_order() -> None:
    games, results = _league()
    target = games[60]
    full = walk_forward_features(games, {r.game_id: r for r in results}, {target.game_id: LINE})
    later_removed = [r for r in results if r.game_id not in {g.game_id for g in games[61:]}]
    shuffled = list(results)
    random.Random(11).shuffle(shuffled)
    assert features_as_of(games, later_removed, target.game_id, LINE) == full[target.game_id]
    assert features_as_of(games, shuffled, target.game_id, LINE) == full[target.game_id]
    assert features_as_of(games[:61], results[:61], target.game_id, LINE) == full[target.game_id]


def test_same_day_results_are_not_used() -> None:
    games, results = _league()
    same_day = [g for g in games if g.day == games[30].day]
    base = walk_forward_features(games, {r.game_id: r for r in results}, {})
    assert base == {}
    target = same_day[-1]
    without_day = [r for r in results if r.game_id not in {g.game_id for g in same_day}]
    earlier = [
        r for r in without_day if r.game_id in {g.game_id for g in games if g.day < target.day}
    ]
    assert features_as_of(games, results, target.game_id, LINE) == features_as_of(
        games, earlier, target.game_id, LINE
    )


def test_builder_refuses_late_forecasts_and_old_results() -> None:
    games, results = _league()
    builder = NbaFeatureBuilder()
    for game in games:
        builder.schedule(game)
    builder.record(results[5])
    with pytest.raises(ForecastTooLateError):
        builder.features(games[5].game_id, LINE)
    older = next(r for g, r in zip(games, results) if g.day < games[5].day)
    with pytest.raises(ResultOutOfOrderError):
        builder.record(older)
