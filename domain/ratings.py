"""Team-strength ratings: Elo and pi-ratings learn from results, market ratings from closing lines.

Each is plain mutable state with no I/O; one instance holds one competition's teams. A team seen
for the first time in an established table starts below the average, because in a league that is
almost always a promoted side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EloParameters:
    k: float = 20.0
    home_advantage: float = 65.0
    initial: float = 1500.0
    # A newcomer to a table that has already rated this many matches is treated as promoted.
    established_after: int = 100
    newcomer_offset: float = -80.0


class EloRatings:
    """Elo with a home advantage and the World Football Elo goal-difference multiplier."""

    def __init__(self, parameters: EloParameters | None = None) -> None:
        self.parameters = parameters or EloParameters()
        self._ratings: dict[str, float] = {}
        self._matches: dict[str, int] = {}
        self._rated_matches = 0

    def rating(self, team: str) -> float:
        if team in self._ratings:
            return self._ratings[team]
        p = self.parameters
        established = self._rated_matches >= p.established_after
        return p.initial + (p.newcomer_offset if established else 0.0)

    def matches_rated(self, team: str) -> int:
        return self._matches.get(team, 0)

    def expected(self, home: str, away: str, home_advantage: float | None = None) -> float:
        """The home side's expected score (win 1, draw 0.5, loss 0); `home_advantage`, if
        given, replaces the parameters' for this match (a tournament's host)."""
        if home_advantage is None:
            home_advantage = self.parameters.home_advantage
        gap = self.rating(home) + home_advantage - self.rating(away)
        return 1.0 / (1.0 + math.pow(10.0, -gap / 400.0))

    def update(
        self,
        home: str,
        away: str,
        home_goals: int,
        away_goals: int,
        home_advantage: float | None = None,
    ) -> None:
        _check_goals(home_goals, away_goals)
        expected = self.expected(home, away, home_advantage)
        scored = 1.0 if home_goals > away_goals else 0.5 if home_goals == away_goals else 0.0
        change = self.parameters.k * _goal_multiplier(abs(home_goals - away_goals))
        change *= scored - expected
        home_rating, away_rating = self.rating(home), self.rating(away)
        self._ratings[home] = home_rating + change
        self._ratings[away] = away_rating - change
        self._matches[home] = self._matches.get(home, 0) + 1
        self._matches[away] = self._matches.get(away, 0) + 1
        self._rated_matches += 1

    def regress(self, carry_over: float) -> None:
        """Pull every rating toward the initial one, keeping `carry_over` of its distance (at
        the start of a new season or tournament: what a side was then is partly gone)."""
        initial = self.parameters.initial
        for team, rating in self._ratings.items():
            self._ratings[team] = initial + carry_over * (rating - initial)


@dataclass(frozen=True)
class PiParameters:
    learning_rate: float = 0.035  # lambda in Constantinou & Fenton (2013)
    cross_learning_rate: float = 0.7  # gamma: how much a home result moves the away rating
    scale: float = 3.0  # c: goal-difference scale of the log10 transform
    established_after: int = 100
    newcomer_offset: float = -0.3


@dataclass(frozen=True)
class PiRating:
    home: float
    away: float


class PiRatings:
    """Pi-ratings: separate home and away strengths, in goal-difference units (log-scaled)."""

    def __init__(self, parameters: PiParameters | None = None) -> None:
        self.parameters = parameters or PiParameters()
        self._ratings: dict[str, PiRating] = {}
        self._rated_matches = 0

    def rating(self, team: str) -> PiRating:
        if team in self._ratings:
            return self._ratings[team]
        p = self.parameters
        start = p.newcomer_offset if self._rated_matches >= p.established_after else 0.0
        return PiRating(home=start, away=start)

    def expected(self, home: str, away: str) -> float:
        """The expected goal difference, home minus away."""
        return self._goals(self.rating(home).home) - self._goals(self.rating(away).away)

    def update(self, home: str, away: str, home_goals: int, away_goals: int) -> None:
        _check_goals(home_goals, away_goals)
        p = self.parameters
        error = (home_goals - away_goals) - self.expected(home, away)
        step = math.copysign(p.scale * math.log10(1.0 + abs(error)), error) * p.learning_rate
        h, a = self.rating(home), self.rating(away)
        self._ratings[home] = PiRating(
            home=h.home + step, away=h.away + step * p.cross_learning_rate
        )
        self._ratings[away] = PiRating(
            home=a.home - step * p.cross_learning_rate, away=a.away - step
        )
        self._rated_matches += 1

    def _goals(self, rating: float) -> float:
        return math.copysign(math.pow(10.0, abs(rating) / self.parameters.scale) - 1.0, rating)


@dataclass(frozen=True)
class MarketRatingParameters:
    learning_rate: float = 0.3
    home_advantage: float = 0.35  # in logits of the home side's expected score
    home_advantage_learning_rate: float = 0.01


class MarketRatings:
    """Strengths that track the market's closing view of each match, in logit units.

    After a match the gap between the closing line's expected score and the ratings' own is split
    between the two sides, so the ratings hold the market's latest opinion of every team.
    """

    def __init__(self, parameters: MarketRatingParameters | None = None) -> None:
        self.parameters = parameters or MarketRatingParameters()
        self._ratings: dict[str, float] = {}
        self.home_advantage = self.parameters.home_advantage

    def rating(self, team: str) -> float:
        return self._ratings.get(team, 0.0)

    def expected_logit(self, home: str, away: str) -> float:
        """The logit of the home side's expected score (win 1, draw 0.5, loss 0)."""
        return self.rating(home) + self.home_advantage - self.rating(away)

    def update(self, home: str, away: str, home_expected_score: float) -> None:
        if not 0.0 < home_expected_score < 1.0:
            raise ValueError(
                f"an expected score must lie strictly between 0 and 1, got {home_expected_score}"
            )
        target = math.log(home_expected_score / (1.0 - home_expected_score))
        error = target - self.expected_logit(home, away)
        p = self.parameters
        self._ratings[home] = self.rating(home) + p.learning_rate * error
        self._ratings[away] = self.rating(away) - p.learning_rate * error
        self.home_advantage += p.home_advantage_learning_rate * error


def _goal_multiplier(margin: int) -> float:
    if margin <= 1:
        return 1.0
    if margin == 2:
        return 1.5
    return (11.0 + margin) / 8.0


def _check_goals(home_goals: int, away_goals: int) -> None:
    if home_goals < 0 or away_goals < 0:
        raise ValueError(f"goals cannot be negative: {home_goals}-{away_goals}")
