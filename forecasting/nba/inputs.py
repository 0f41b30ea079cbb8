"""What the NBA forecasting side consumes. Dates only: the data gives a game's day, not its tip.

A game's result is known once its day is over, so a forecast for day D may use every result of
days before D and none of D itself (two games on one day never inform each other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.odds.price import PriceFormat


@dataclass(frozen=True)
class NbaGameScheduled:
    game_id: str
    season: str  # the year the season ends, as the data names it ("2022")
    day: date
    home: str
    away: str
    playoffs: bool


@dataclass(frozen=True)
class NbaMoneyline:
    """The pre-game moneyline as quoted: American odds (``-175`` / ``+155``) unless a feed
    quoted it in another format."""

    game_id: str
    home: str
    away: str
    price_format: PriceFormat = PriceFormat.AMERICAN


@dataclass(frozen=True)
class NbaGameResult:
    game_id: str
    home_points: int
    away_points: int
    home_quarters: tuple[int, int, int, int]
    away_quarters: tuple[int, int, int, int]
