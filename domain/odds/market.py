"""The markets we price and their outcomes, in the order prices are listed."""

from __future__ import annotations

from enum import StrEnum

from domain.sport import Sport


class Outcome(StrEnum):
    HOME = "home"
    DRAW = "draw"
    AWAY = "away"
    OVER = "over"
    UNDER = "under"
    YES = "yes"
    NO = "no"


class Market(StrEnum):
    MATCH_RESULT = "1x2"
    """Home win, draw or away win after regular time (football)."""
    MONEYLINE = "moneyline"
    """Home or away, overtime included (basketball)."""
    OVER_UNDER_2_5 = "over-under-2.5"
    """More or fewer than 2.5 goals (football)."""
    BOTH_TEAMS_TO_SCORE = "btts"
    """Both teams score at least once: yes or no (football)."""

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        return _OUTCOMES[self]

    @property
    def sports(self) -> frozenset[Sport]:
        return _SPORTS[self]


_OUTCOMES = {
    Market.MATCH_RESULT: (Outcome.HOME, Outcome.DRAW, Outcome.AWAY),
    Market.MONEYLINE: (Outcome.HOME, Outcome.AWAY),
    Market.OVER_UNDER_2_5: (Outcome.OVER, Outcome.UNDER),
    Market.BOTH_TEAMS_TO_SCORE: (Outcome.YES, Outcome.NO),
}
_SPORTS = {
    Market.MATCH_RESULT: frozenset({Sport.FOOTBALL}),
    Market.MONEYLINE: frozenset({Sport.BASKETBALL}),
    Market.OVER_UNDER_2_5: frozenset({Sport.FOOTBALL}),
    Market.BOTH_TEAMS_TO_SCORE: frozenset({Sport.FOOTBALL}),
}
