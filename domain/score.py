"""A score: goals in football, points in basketball."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidScore
from domain.sport import Side


@dataclass(frozen=True)
class Score:
    home: int
    away: int

    def __post_init__(self) -> None:
        for side, value in (("home", self.home), ("away", self.away)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidScore(f"a score is two whole numbers from 0, got {side}={value!r}")

    def __str__(self) -> str:
        return f"{self.home}-{self.away}"

    @property
    def is_level(self) -> bool:
        return self.home == self.away

    def covers(self, other: Score) -> bool:
        """True when neither side has fewer than in ``other``: the score has not gone back."""
        return self.home >= other.home and self.away >= other.away

    def plus_one(self, side: Side) -> Score:
        if side == Side.HOME:
            return Score(self.home + 1, self.away)
        return Score(self.home, self.away + 1)


NIL_NIL = Score(0, 0)
