"""What the forecasting side consumes, in event-time order. Times are timezone-aware."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FixtureAnnounced:
    fixture_id: str
    competition: str
    season: str
    home: str
    away: str
    kickoff: datetime
    venue_country: str | None = None
    """The country it is played in, if the feed says (a tournament's host plays at home)."""


@dataclass(frozen=True)
class OddsOpened:
    """The opening 1X2 market, as decimal prices."""

    fixture_id: str
    home: float
    draw: float
    away: float
    at: datetime


@dataclass(frozen=True)
class OddsMoved:
    """A later 1X2 quote before the closing one: from then on the fixture's market features."""

    fixture_id: str
    home: float
    draw: float
    away: float
    at: datetime


@dataclass(frozen=True)
class OddsClosed:
    """The last 1X2 prices before kick-off. From then on they are its own match's market
    features (a closing-triggered forecast) and inform later fixtures' features."""

    fixture_id: str
    home: float
    draw: float
    away: float
    at: datetime


@dataclass(frozen=True)
class ResultKnown:
    fixture_id: str
    home_goals: int
    away_goals: int
    at: datetime


ForecastInput = FixtureAnnounced | OddsOpened | OddsMoved | OddsClosed | ResultKnown
Quoted = OddsOpened | OddsMoved | OddsClosed
