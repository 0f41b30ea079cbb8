"""NBA team strength: Elo with a home advantage, a margin-of-victory multiplier and a pull
toward the mean between seasons (FiveThirtyEight's published NBA Elo recipe); the home
advantage itself is learnt from results as they come (it fell by about a third from 2020).

Plain mutable state, no I/O. Ratings carry over into a new season a quarter of the way back to
the mean, because rosters change in the summer and last season's table overstates the gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NbaEloParameters:
    k: float = 20.0
    home_advantage: float = 100.0
    initial: float = 1500.0
    mean: float = 1505.0
    carry_over: float = 0.75  # share of last season's distance from the mean that survives
    # Elo points the home advantage moves per unit of surprise (home won minus expected): with
    # ~1,230 games a season it follows a shift such as 2020's empty arenas within half a season.
    home_advantage_rate: float = 1.0


@dataclass(frozen=True)
class _Rated:
    rating: float
    season: str


class NbaElo:
    def __init__(self, parameters: NbaEloParameters | None = None) -> None:
        self.parameters = parameters or NbaEloParameters()
        self._ratings: dict[str, _Rated] = {}
        self.home_advantage = self.parameters.home_advantage

    def rating(self, team: str, season: str) -> float:
        """The team's rating going into a game of `season`."""
        p = self.parameters
        rated = self._ratings.get(team)
        if rated is None:
            return p.initial
        if rated.season == season:
            return rated.rating
        return p.mean + p.carry_over * (rated.rating - p.mean)

    def gap(self, home: str, away: str, season: str) -> float:
        """Home minus away, home advantage included, in Elo points."""
        return self.rating(home, season) + self.home_advantage - self.rating(away, season)

    def expected(self, home: str, away: str, season: str) -> float:
        """The home side's win probability."""
        return win_probability(self.gap(home, away, season))

    def update(self, home: str, away: str, season: str, home_points: int, away_points: int) -> None:
        if home_points < 0 or away_points < 0:
            raise ValueError(f"points cannot be negative: {home_points}-{away_points}")
        if home_points == away_points:
            raise ValueError(f"an NBA game cannot end level: {home_points}-{away_points}")
        gap = self.gap(home, away, season)
        home_won = home_points > away_points
        change = self.parameters.k * margin_multiplier(
            abs(home_points - away_points), gap if home_won else -gap
        )
        surprise = (1.0 if home_won else 0.0) - win_probability(gap)
        change *= surprise
        home_rating, away_rating = self.rating(home, season), self.rating(away, season)
        self._ratings[home] = _Rated(home_rating + change, season)
        self._ratings[away] = _Rated(away_rating - change, season)
        self.home_advantage += self.parameters.home_advantage_rate * surprise


def win_probability(elo_gap: float) -> float:
    return 1.0 / (1.0 + math.pow(10.0, -elo_gap / 400.0))


def margin_multiplier(margin: int, winner_gap: float) -> float:
    """Bigger wins move ratings more, damped when the favourite wins (autocorrelation fix)."""
    return math.pow(margin + 3.0, 0.8) / (7.5 + 0.006 * winner_gap)
