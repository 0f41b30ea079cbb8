"""The vocabulary of in-match events: cards, the match clock and periods."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import InvalidMinute, InvalidPeriod
from domain.sport import Sport

LAST_MINUTE = 120  # end of extra time; stoppage is counted separately (120+2)
LONGEST_STOPPAGE = 30
_FOOTBALL_PERIODS = 4  # two halves and, in knock-out ties, two halves of extra time
_BASKETBALL_QUARTERS = 4


class CardKind(StrEnum):
    YELLOW = "yellow"
    SECOND_YELLOW = "second-yellow"
    """A second caution in the match: the player is sent off."""
    RED = "red"


def check_minute(minute: int, stoppage: int) -> None:
    """A football clock reading such as 45+2 (minute 45, stoppage 2)."""
    if not 0 <= minute <= LAST_MINUTE:
        raise InvalidMinute(f"minute must be between 0 and {LAST_MINUTE}, got {minute}")
    if not 0 <= stoppage <= LONGEST_STOPPAGE:
        raise InvalidMinute(
            f"stoppage minute must be between 0 and {LONGEST_STOPPAGE}, got {stoppage}"
        )


def check_period(sport: Sport, period: int) -> None:
    """Periods count from 1: halves then extra-time halves in football; quarters then any
    number of overtimes in basketball."""
    if period < 1:
        raise InvalidPeriod(f"periods are numbered from 1, got {period}")
    if sport == Sport.FOOTBALL and period > _FOOTBALL_PERIODS:
        raise InvalidPeriod(
            f"football has at most {_FOOTBALL_PERIODS} periods (two halves and two of extra"
            f" time), got period {period}"
        )


def period_name(sport: Sport, period: int) -> str:
    if sport == Sport.FOOTBALL:
        return ("first half", "second half", "extra time first half", "extra time second half")[
            period - 1
        ]
    if period <= _BASKETBALL_QUARTERS:
        return f"quarter {period}"
    return f"overtime {period - _BASKETBALL_QUARTERS}"
