"""Pre-game features for an NBA game, built only from results of earlier days and its own line.

`NbaFeatureBuilder` takes scheduled games, then results in day order, and keeps a clock (the
latest result day): it refuses a result older than the clock and a forecast for a game whose day
has been reached, so whatever it returns was computable before tip-off. `features_as_of` rebuilds
a game's features from any history in any order, which is how a test proves nothing leaks in.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date

from domain.nba_ratings import NbaElo
from domain.odds.margin import proportional
from domain.odds.price import decimal_odds
from forecasting.errors import ForecastingInputError, ForecastTooLateError
from forecasting.nba.inputs import NbaGameResult, NbaGameScheduled, NbaMoneyline

FORM_GAMES = 10
REST_DAYS_CAP = 10.0
NET_RATING_PRIOR_GAMES = 3.0  # shrinks a season's point differential toward 0 early on
# Real two-way NBA books carry 2-6 %; above this the line is a data error (two favourites).
MOST_PLAUSIBLE_BOOKSUM = 1.10


class NbaInputError(ForecastingInputError):
    """An input the NBA feature builder cannot accept; `code` is stable, the message says why."""

    code = "nba-input"


class UnknownGameError(NbaInputError):
    code = "unknown-game"


class ResultOutOfOrderError(NbaInputError):
    code = "result-out-of-order"


class ImplausibleMoneylineError(NbaInputError):
    code = "implausible-moneyline"


@dataclass(frozen=True)
class NbaFeatures:
    """One game's feature vector; field order is the model's column order."""

    market_home: float
    market_logit: float
    market_overround: float
    elo_gap: float
    elo_probability: float
    elo_minus_market: float
    home_form_win_rate: float
    away_form_win_rate: float
    home_form_margin: float
    away_form_margin: float
    home_rest_days: float
    away_rest_days: float
    home_back_to_back: float
    away_back_to_back: float
    home_net_rating: float
    away_net_rating: float
    net_rating_difference: float
    home_season_games: float
    away_season_games: float
    playoffs: float

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_row(self) -> tuple[float, ...]:
        row: tuple[float, ...] = _ROW(self)
        return row


_ROW = operator.attrgetter(*NbaFeatures.names())


def moneyline_home_probability(line: NbaMoneyline) -> tuple[float, float]:
    """The home side's margin-free win probability and the book's overround.

    Quoted odds -> exact decimal odds -> proportional margin removal. Raises the domain's
    `InvalidPrice` / `ImpossibleBook` for impossible prices, `ImplausibleMoneylineError` for a
    book whose margin no real NBA market carries.
    """
    prices = [
        float(decimal_odds(line.home, line.price_format)),
        float(decimal_odds(line.away, line.price_format)),
    ]
    booksum = 1.0 / prices[0] + 1.0 / prices[1]
    if booksum > MOST_PLAUSIBLE_BOOKSUM:
        raise ImplausibleMoneylineError(
            f"{line.game_id}: moneyline {line.home}/{line.away} implies a booksum of "
            f"{booksum:.3f} (> {MOST_PLAUSIBLE_BOOKSUM}); both sides cannot be favourites"
        )
    return proportional(prices)[0], booksum - 1.0


@dataclass(frozen=True)
class _Played:
    day: date
    season: str
    margin: int  # own points minus opponent's


class NbaFeatureBuilder:
    def __init__(self) -> None:
        self._games: dict[str, NbaGameScheduled] = {}
        self._elo = NbaElo()
        self._recent: dict[str, deque[_Played]] = {}
        self._season: dict[tuple[str, str], tuple[int, int]] = {}  # games, summed margin
        self._clock: date | None = None

    def schedule(self, game: NbaGameScheduled) -> None:
        self._games[game.game_id] = game

    def record(self, result: NbaGameResult) -> None:
        game = self._game(result.game_id)
        if self._clock is not None and game.day < self._clock:
            raise ResultOutOfOrderError(
                f"result of {game.game_id} ({game.day}) arrived after a result of {self._clock}"
            )
        self._clock = game.day
        self._elo.update(game.home, game.away, game.season, result.home_points, result.away_points)
        margin = result.home_points - result.away_points
        for team, own in ((game.home, margin), (game.away, -margin)):
            recent = self._recent.setdefault(team, deque(maxlen=FORM_GAMES))
            recent.append(_Played(game.day, game.season, own))
            played, total = self._season.get((team, game.season), (0, 0))
            self._season[(team, game.season)] = (played + 1, total + own)

    def features(self, game_id: str, moneyline: NbaMoneyline | None) -> NbaFeatures:
        """Without a moneyline the market's columns are NaN: only a market-free model
        (nba_model.RESULTS_VIEW) can forecast from such a row."""
        game = self._game(game_id)
        if self._clock is not None and self._clock >= game.day:
            raise ForecastTooLateError(
                f"{game_id} is on {game.day}; results up to {self._clock} are already applied"
            )
        market_logit = elo_minus_market = math.nan
        if moneyline is None:
            market, overround = math.nan, math.nan
        else:
            market, overround = moneyline_home_probability(moneyline)
            market_logit = _logit(market)
        elo_gap = self._elo.gap(game.home, game.away, game.season)
        elo_probability = self._elo.expected(game.home, game.away, game.season)
        if moneyline is not None:
            elo_minus_market = _logit(elo_probability) - market_logit
        home_recent = self._recent.get(game.home, deque())
        away_recent = self._recent.get(game.away, deque())
        home_rest = _rest_days(home_recent, game.day)
        away_rest = _rest_days(away_recent, game.day)
        home_net, home_games = self._net_rating(game.home, game.season)
        away_net, away_games = self._net_rating(game.away, game.season)
        return NbaFeatures(
            market_home=market,
            market_logit=market_logit,
            market_overround=overround,
            elo_gap=elo_gap,
            elo_probability=elo_probability,
            elo_minus_market=elo_minus_market,
            home_form_win_rate=_mean(float(p.margin > 0) for p in home_recent),
            away_form_win_rate=_mean(float(p.margin > 0) for p in away_recent),
            home_form_margin=_mean(float(p.margin) for p in home_recent),
            away_form_margin=_mean(float(p.margin) for p in away_recent),
            home_rest_days=home_rest,
            away_rest_days=away_rest,
            home_back_to_back=float(home_rest <= 1.0),
            away_back_to_back=float(away_rest <= 1.0),
            home_net_rating=home_net,
            away_net_rating=away_net,
            net_rating_difference=home_net - away_net,
            home_season_games=home_games,
            away_season_games=away_games,
            playoffs=float(game.playoffs),
        )

    def _game(self, game_id: str) -> NbaGameScheduled:
        game = self._games.get(game_id)
        if game is None:
            raise UnknownGameError(f"game {game_id} was never scheduled")
        return game

    def _net_rating(self, team: str, season: str) -> tuple[float, float]:
        # No possessions in the data: point differential per game stands in for net rating.
        played, total = self._season.get((team, season), (0, 0))
        return total / (played + NET_RATING_PRIOR_GAMES), float(played)


def walk_forward_features(
    games: Iterable[NbaGameScheduled],
    results: Mapping[str, NbaGameResult],
    moneylines: Mapping[str, NbaMoneyline],
    *,
    without_line: bool = False,
) -> dict[str, NbaFeatures]:
    """Every game's features as of its morning: a day's forecasts, then that day's results.

    Games without a moneyline are not forecast (the market is the model's starting point)
    unless `without_line` (their market columns are then NaN, for the market-free model), but
    their results feed the ratings either way."""
    ordered = sorted(games, key=lambda g: (g.day, g.game_id))
    builder = NbaFeatureBuilder()
    for game in ordered:
        builder.schedule(game)
    out: dict[str, NbaFeatures] = {}
    start = 0
    while start < len(ordered):
        end = start
        while end < len(ordered) and ordered[end].day == ordered[start].day:
            end += 1
        day_games = ordered[start:end]
        for game in day_games:
            line = moneylines.get(game.game_id)
            if line is not None or without_line:
                out[game.game_id] = builder.features(game.game_id, line)
        for game in day_games:
            result = results.get(game.game_id)
            if result is not None:
                builder.record(result)
        start = end
    return out


def features_as_of(
    games: Iterable[NbaGameScheduled],
    results: Iterable[NbaGameResult],
    game_id: str,
    moneyline: NbaMoneyline,
) -> NbaFeatures:
    """The game's features from the results of earlier days only, whatever order they come in."""
    scheduled = {g.game_id: g for g in games}
    builder = NbaFeatureBuilder()
    for game in scheduled.values():
        builder.schedule(game)
    day = scheduled[game_id].day
    earlier = [r for r in results if scheduled[r.game_id].day < day]
    for result in sorted(earlier, key=lambda r: (scheduled[r.game_id].day, r.game_id)):
        builder.record(result)
    return builder.features(game_id, moneyline)


def _rest_days(recent: deque[_Played], day: date) -> float:
    if not recent:
        return REST_DAYS_CAP
    return min(float((day - recent[-1].day).days), REST_DAYS_CAP)


def _logit(probability: float) -> float:
    p = min(max(probability, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0
