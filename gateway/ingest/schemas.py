"""The ingest API's payloads (``XIn``), and how each becomes a command.

A fixture is named either by our ``fixture_id`` or by its natural key (sport, competition,
kick-off, home, away), from which the id is derived the same way the domain derives it.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

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


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixtureKey(_In):
    sport: Sport
    competition: str = Field(min_length=1)
    kickoff: AwareDatetime
    home: str = Field(min_length=1)
    away: str = Field(min_length=1)


class ScoreIn(_In):
    home: int = Field(ge=0)
    away: int = Field(ge=0)

    def to_score(self) -> Score:
        return Score(self.home, self.away)


class _AboutFixture(_In):
    event_id: str | None = Field(
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


class ScheduledIn(_In):
    type: Literal["scheduled"]
    event_id: str | None = None
    sport: Sport
    competition: str = Field(min_length=1)
    season: str = Field(min_length=1)
    home: str = Field(min_length=1)
    away: str = Field(min_length=1)
    kickoff: AwareDatetime
    venue: str | None = None


class RescheduledIn(_AboutFixture):
    type: Literal["rescheduled"]
    kickoff: AwareDatetime
    venue: str | None = None


class PostponedIn(_AboutFixture):
    type: Literal["postponed"]
    reason: str | None = None


class AbandonedIn(_AboutFixture):
    type: Literal["abandoned"]
    reason: str | None = None


FixtureIn = Annotated[
    ScheduledIn | RescheduledIn | PostponedIn | AbandonedIn, Field(discriminator="type")
]


class StartedIn(_AboutFixture):
    type: Literal["started"]
    started_at: AwareDatetime | None = None


class GoalIn(_AboutFixture):
    type: Literal["goal"]
    side: Side
    minute: int = Field(ge=0, le=130)
    stoppage: int = Field(default=0, ge=0, le=30)
    player: str | None = None
    own_goal: bool = False
    penalty: bool = False


class CardIn(_AboutFixture):
    type: Literal["card"]
    card: CardKind
    side: Side
    minute: int = Field(ge=0, le=130)
    stoppage: int = Field(default=0, ge=0, le=30)
    player: str | None = None


class PeriodEndedIn(_AboutFixture):
    type: Literal["period-ended"]
    period: int = Field(ge=1)
    score: ScoreIn


class FinishedIn(_AboutFixture):
    type: Literal["finished"]
    score: ScoreIn


class ResultCorrectedIn(_AboutFixture):
    type: Literal["result-corrected"]
    score: ScoreIn
    reason: str = Field(min_length=1)


MatchEventIn = Annotated[
    StartedIn | GoalIn | CardIn | PeriodEndedIn | FinishedIn | ResultCorrectedIn,
    Field(discriminator="type"),
]


class OddsIn(_AboutFixture):
    market: Market
    prices: dict[Outcome, str] = Field(description="Raw prices exactly as the source sent them.")
    price_format: PriceFormat = PriceFormat.DECIMAL
    margin_method: MarginMethod = MarginMethod.PROPORTIONAL
    quoted_at: AwareDatetime
    stage: QuoteStage | None = None
    bookmaker: str | None = Field(
        default=None, description="Whose prices these are, when the provider relays several."
    )


def to_command(
    payload: ScheduledIn
    | RescheduledIn
    | PostponedIn
    | AbandonedIn
    | StartedIn
    | GoalIn
    | CardIn
    | PeriodEndedIn
    | FinishedIn
    | ResultCorrectedIn
    | OddsIn,
    *,
    key: str,
    provenance: Provenance,
    source: str,
) -> FeedCommand:
    match payload:
        case ScheduledIn():
            return ScheduleFixture(
                idempotency_key=key,
                provenance=provenance,
                sport=payload.sport,
                competition=payload.competition,
                season=payload.season,
                home=payload.home,
                away=payload.away,
                kickoff=payload.kickoff,
                venue=payload.venue,
            )
        case RescheduledIn():
            return RescheduleFixture(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                kickoff=payload.kickoff,
                venue=payload.venue,
            )
        case PostponedIn():
            return PostponeFixture(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                reason=payload.reason,
            )
        case AbandonedIn():
            return AbandonFixture(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                reason=payload.reason,
            )
        case StartedIn():
            return StartFixture(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                started_at=payload.started_at,
            )
        case GoalIn():
            return RecordGoal(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                side=payload.side,
                minute=payload.minute,
                stoppage=payload.stoppage,
                player=payload.player,
                own_goal=payload.own_goal,
                penalty=payload.penalty,
            )
        case CardIn():
            return RecordCard(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                card=payload.card,
                side=payload.side,
                minute=payload.minute,
                stoppage=payload.stoppage,
                player=payload.player,
            )
        case PeriodEndedIn():
            return EndPeriod(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                period=payload.period,
                score=payload.score.to_score(),
            )
        case FinishedIn():
            return FinishFixture(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                score=payload.score.to_score(),
            )
        case ResultCorrectedIn():
            return CorrectResult(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                score=payload.score.to_score(),
                reason=payload.reason,
            )
        case OddsIn():
            return RecordOdds(
                idempotency_key=key,
                provenance=provenance,
                fixture_id=payload.target(),
                source=payload.bookmaker or source,
                market=payload.market,
                prices=dict(payload.prices),
                price_format=payload.price_format,
                margin_method=payload.margin_method,
                quoted_at=payload.quoted_at,
                stage=payload.stage,
            )
