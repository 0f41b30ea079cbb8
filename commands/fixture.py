"""Commands that change a Fixture: imperative names, one intent each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from commands.base import Command
from domain.fixture_id import fixture_id
from domain.in_match import CardKind
from domain.score import Score
from domain.sport import Side, Sport


@dataclass(frozen=True, kw_only=True)
class ScheduleFixture(Command):
    sport: Sport
    competition: str
    season: str
    home: str
    away: str
    kickoff: datetime
    venue: str | None = None
    venue_country: str | None = None

    @property
    def fixture_id(self) -> UUID:
        return fixture_id(self.sport, self.competition, self.kickoff, self.home, self.away)


@dataclass(frozen=True, kw_only=True)
class RescheduleFixture(Command):
    fixture_id: UUID
    kickoff: datetime
    venue: str | None = None
    venue_country: str | None = None


@dataclass(frozen=True, kw_only=True)
class PostponeFixture(Command):
    fixture_id: UUID
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class AbandonFixture(Command):
    fixture_id: UUID
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class StartFixture(Command):
    fixture_id: UUID
    started_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RecordGoal(Command):
    fixture_id: UUID
    side: Side
    """The side credited with the goal: for an own goal, the opponents of the scorer."""
    minute: int
    stoppage: int = 0
    player: str | None = None
    own_goal: bool = False
    penalty: bool = False


@dataclass(frozen=True, kw_only=True)
class RecordCard(Command):
    fixture_id: UUID
    card: CardKind
    side: Side
    minute: int
    stoppage: int = 0
    player: str | None = None


@dataclass(frozen=True, kw_only=True)
class EndPeriod(Command):
    fixture_id: UUID
    period: int
    """From 1: halves, then extra-time halves (football); quarters, then overtimes (basketball)."""
    score: Score
    """The running score at the end of the period."""


@dataclass(frozen=True, kw_only=True)
class FinishFixture(Command):
    fixture_id: UUID
    score: Score


@dataclass(frozen=True, kw_only=True)
class CorrectResult(Command):
    fixture_id: UUID
    score: Score
    reason: str


@dataclass(frozen=True, kw_only=True)
class GrantFixtureWriter(Command):
    """An admin lets another provider write a fixture (never sent by a feed)."""

    fixture_id: UUID
    provider: str


FixtureCommand = (
    ScheduleFixture
    | RescheduleFixture
    | PostponeFixture
    | AbandonFixture
    | StartFixture
    | RecordGoal
    | RecordCard
    | EndPeriod
    | FinishFixture
    | CorrectResult
    | GrantFixtureWriter
)
