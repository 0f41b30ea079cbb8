"""The ingest API's payloads (``XIn``), and how each becomes a command.

A fixture is named either by our ``fixture_id`` or by its natural key (sport, competition,
kick-off, home, away), from which the id is derived the same way the domain derives it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from commands.fixture import (
    AbandonFixture,
    CorrectResult,
    EndPeriod,
    FinishFixture,
    PostponeFixture,
    RecordCard,
    RecordGoal,
    RescheduleFixture,
    ScheduleFixture,
    StartFixture,
)
from commands.ingestion import FeedCommand
from commands.odds import RecordOdds
from domain.fixture_id import fixture_id
from domain.in_match import CardKind
from domain.odds import MarginMethod, Market, Outcome, PriceFormat, QuoteStage
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from gateway.ingest.fields import EventId, Name, Period, Points, RawPrice, Text


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_ENVELOPE = frozenset({"type", "event_id", "fixture_id", "fixture"})


class CommandIn(_In):
    """A payload that becomes one command: its fields, the envelope aside, are the command's."""

    command_type: ClassVar[Callable[..., FeedCommand]]

    def command_fields(self, source: str) -> dict[str, Any]:
        return {
            name: value.to_score() if isinstance(value, ScoreIn) else value
            for name, value in self
            if name not in _ENVELOPE
        }


class FixtureKey(_In):
    sport: Sport
    competition: Name
    kickoff: AwareDatetime
    home: Name
    away: Name


class ScoreIn(_In):
    home: Points
    away: Points

    def to_score(self) -> Score:
        return Score(self.home, self.away)


class _AboutFixture(CommandIn):
    event_id: EventId | None = Field(
        default=None, description="The provider's own id for this message."
    )
    fixture_id: UUID | None = None
    fixture: FixtureKey | None = None

    @model_validator(mode="after")
    def _one_fixture_reference(self) -> _AboutFixture:
        if (self.fixture_id is None) == (self.fixture is None):
            raise ValueError("name the fixture with exactly one of 'fixture_id' or 'fixture'")
        return self

    def target(self) -> UUID:
        if self.fixture_id is not None:
            return self.fixture_id
        assert self.fixture is not None
        k = self.fixture
        return fixture_id(k.sport, k.competition, k.kickoff, k.home, k.away)

    def command_fields(self, source: str) -> dict[str, Any]:
        return {**super().command_fields(source), "fixture_id": self.target()}


class ScheduledIn(CommandIn):
    command_type = ScheduleFixture

    type: Literal["scheduled"]
    event_id: EventId | None = None
    sport: Sport
    competition: Name
    season: Name
    home: Name
    away: Name
    kickoff: AwareDatetime
    venue: Name | None = None
    venue_country: Name | None = None
    """The country it is played in (a tournament's host nation plays at home)."""


class RescheduledIn(_AboutFixture):
    command_type = RescheduleFixture

    type: Literal["rescheduled"]
    kickoff: AwareDatetime
    venue: Name | None = None
    venue_country: Name | None = None


class PostponedIn(_AboutFixture):
    command_type = PostponeFixture

    type: Literal["postponed"]
    reason: Text | None = None


class AbandonedIn(_AboutFixture):
    command_type = AbandonFixture

    type: Literal["abandoned"]
    reason: Text | None = None


FixtureIn = Annotated[
    ScheduledIn | RescheduledIn | PostponedIn | AbandonedIn, Field(discriminator="type")
]


class StartedIn(_AboutFixture):
    command_type = StartFixture

    type: Literal["started"]
    started_at: AwareDatetime | None = None


class GoalIn(_AboutFixture):
    command_type = RecordGoal

    type: Literal["goal"]
    side: Side
    minute: int = Field(ge=0, le=130)
    stoppage: int = Field(default=0, ge=0, le=30)
    player: Name | None = None
    own_goal: bool = False
    penalty: bool = False


class CardIn(_AboutFixture):
    command_type = RecordCard

    type: Literal["card"]
    card: CardKind
    side: Side
    minute: int = Field(ge=0, le=130)
    stoppage: int = Field(default=0, ge=0, le=30)
    player: Name | None = None


class PeriodEndedIn(_AboutFixture):
    command_type = EndPeriod

    type: Literal["period-ended"]
    period: Period
    score: ScoreIn


class FinishedIn(_AboutFixture):
    command_type = FinishFixture

    type: Literal["finished"]
    score: ScoreIn


class ResultCorrectedIn(_AboutFixture):
    command_type = CorrectResult

    type: Literal["result-corrected"]
    score: ScoreIn
    reason: Text


MatchEventIn = Annotated[
    StartedIn | GoalIn | CardIn | PeriodEndedIn | FinishedIn | ResultCorrectedIn,
    Field(discriminator="type"),
]


class OddsIn(_AboutFixture):
    command_type = RecordOdds

    market: Market
    prices: dict[Outcome, RawPrice] = Field(
        description="Raw prices exactly as the source sent them."
    )
    price_format: PriceFormat = PriceFormat.DECIMAL
    margin_method: MarginMethod = MarginMethod.PROPORTIONAL
    quoted_at: AwareDatetime
    stage: QuoteStage | None = None
    bookmaker: Name | None = Field(
        default=None, description="Whose prices these are, when the provider relays several."
    )

    def command_fields(self, source: str) -> dict[str, Any]:
        fields = super().command_fields(source)
        bookmaker = fields.pop("bookmaker")
        return {**fields, "source": bookmaker or source, "prices": dict(self.prices)}


def to_command(payload: CommandIn, *, key: str, provenance: Provenance, source: str) -> FeedCommand:
    """The payload as its command; ``source`` is whose quotes these are unless it names one."""
    return payload.command_type(
        idempotency_key=key, provenance=provenance, **payload.command_fields(source)
    )


PAYLOADS: dict[str, TypeAdapter[Any]] = {
    "fixture": TypeAdapter(FixtureIn),
    "match-event": TypeAdapter(MatchEventIn),
    "odds": TypeAdapter(OddsIn),
}
"""Each ingest endpoint's payloads, by the kind the quarantine records with a refused one."""


def command_from_json(
    kind: str, raw: bytes, *, key: str, provenance: Provenance, source: str
) -> FeedCommand:
    """A payload as the ingest endpoint for ``kind`` reads it (a held one, retried); an empty
    ``key`` means the provider's ``event_id``, as the endpoint namespaces it."""
    if kind not in PAYLOADS:
        raise LookupError(f"cannot rebuild a {kind!r} payload")
    payload = PAYLOADS[kind].validate_json(raw)
    key = key or f"{source}:{payload.event_id}"
    return to_command(payload, key=key, provenance=provenance, source=source)
