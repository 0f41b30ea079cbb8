"""The Fixture aggregate: one match from scheduling to result, for football and basketball.

Public methods check the rules and raise a :class:`~domain.errors.DomainError`; the private
``@event`` methods only change state, because they also run when the fixture is replayed from
its events, and a stored fact must replay even if the rules later change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    FixtureAlreadyStarted,
    FixtureFinished,
    FixtureNotFinished,
    FixtureNotPlayable,
    FixtureNotStarted,
    IllegalTransition,
    InvalidCorrection,
    InvalidFixture,
    InvalidGoal,
    InvalidScore,
    NotFixtureWriter,
    NotForSport,
    PeriodOutOfOrder,
    ScoreWentBackwards,
)
from domain.fixture_id import canonical_name, fixture_id
from domain.in_match import CardKind, check_minute, check_period, period_name
from domain.plausible_time import check_plausible
from domain.provenance import Provenance
from domain.score import NIL_NIL, Score
from domain.sport import Side, Sport
from domain.status import FixtureStatus


class Fixture(Aggregate):
    class Event(Aggregate.Event):
        provenance: Provenance

    class Scheduled(Event, Aggregate.Created):
        class_version = 2
        sport: Sport
        competition: str
        season: str
        home: str
        away: str
        kickoff: datetime
        venue: str | None
        venue_country: str | None
        """The country the match is played in, as the feed names it (None: not given); a
        tournament's prior gives a side playing in its own country a home advantage."""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["venue_country"] = None  # feeds gave no venue country before

    class Rescheduled(Event):
        class_version = 2
        kickoff: datetime
        venue: str | None
        venue_country: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["venue_country"] = None

    class Postponed(Event):
        reason: str | None

    class Abandoned(Event):
        reason: str | None

    class Started(Event):
        started_at: datetime | None

    class GoalScored(Event):
        side: Side
        """The side credited with the goal: for an own goal, the opponents of the scorer."""
        minute: int
        stoppage: int
        player: str | None
        own_goal: bool
        penalty: bool
        score: Score
        """The score after this goal."""

    class CardShown(Event):
        card: CardKind
        side: Side
        minute: int
        stoppage: int
        player: str | None

    class PeriodEnded(Event):
        period: int
        score: Score
        """The running score at the end of the period (not the period's own points)."""

    class Finished(Event):
        score: Score

    class ResultCorrected(Event):
        score: Score
        previous: Score
        reason: str

    class WriterGranted(Event):
        provider: str
        """A provider, besides the one that scheduled the fixture, that may now write it."""

    @staticmethod
    def create_id(sport: Sport, competition: str, kickoff: datetime, home: str, away: str) -> UUID:
        return fixture_id(sport, competition, kickoff, home, away)

    @classmethod
    def schedule(
        cls,
        *,
        sport: Sport,
        competition: str,
        season: str,
        home: str,
        away: str,
        kickoff: datetime,
        venue: str | None,
        provenance: Provenance,
        venue_country: str | None = None,
    ) -> Fixture:
        for label, value in (("competition", competition), ("season", season)):
            if not value.strip():
                raise InvalidFixture(f"a fixture needs a {label}, got an empty string")
        if not home.strip() or not away.strip():
            raise InvalidFixture(f"a fixture needs two named teams, got {home!r} v {away!r}")
        if canonical_name(home) == canonical_name(away):
            raise InvalidFixture(f"a team cannot play itself: {home!r} v {away!r}")
        _check_aware(kickoff, "kick-off")
        check_plausible(kickoff, "kick-off", provenance.received_at)
        return cls(
            sport=sport,
            competition=competition,
            season=season,
            home=home,
            away=away,
            kickoff=kickoff,
            venue=venue,
            venue_country=venue_country,
            provenance=provenance,
        )

    @event(Scheduled)
    def __init__(
        self,
        sport: Sport,
        competition: str,
        season: str,
        home: str,
        away: str,
        kickoff: datetime,
        venue: str | None,
        venue_country: str | None,
        provenance: Provenance,
    ) -> None:
        self.sport = sport
        self.competition = competition
        self.season = season
        self.home = home
        self.away = away
        self.kickoff = kickoff
        self.venue = venue
        self.venue_country = venue_country
        self.status = FixtureStatus.SCHEDULED
        self.started_at: datetime | None = None
        self.score = NIL_NIL
        self.goals_recorded = NIL_NIL
        """Goals backed by a GoalScored event; ``score`` may be ahead when a feed skips goals."""
        self.period_scores: dict[int, Score] = {}
        self.result: Score | None = None
        self.called_off_reason: str | None = None
        self.writers = {provenance.source}
        """Providers that may change the fixture: the one that scheduled it, plus grants."""

    # Who may write it

    def check_writer(self, provider: str) -> None:
        if provider not in self.writers:
            raise NotFixtureWriter(
                f"provider {provider!r} may not change fixture {self.id}: it was scheduled by"
                f" {sorted(self.writers)[0]!r}; an admin can grant it (sportcast feed grant)"
            )

    def grant_writer(self, provider: str, provenance: Provenance) -> None:
        if not provider.strip():
            raise InvalidFixture("a grant needs a provider name, got an empty string")
        if provider in self.writers:
            raise IllegalTransition(f"provider {provider!r} may already write this fixture")
        self._writer_granted(provider=provider, provenance=provenance)

    @event(WriterGranted)
    def _writer_granted(self, provider: str, provenance: Provenance) -> None:
        self.writers.add(provider)

    # Scheduling

    def reschedule(
        self,
        kickoff: datetime,
        venue: str | None,
        provenance: Provenance,
        venue_country: str | None = None,
    ) -> None:
        if self.status not in (FixtureStatus.SCHEDULED, FixtureStatus.POSTPONED):
            raise IllegalTransition(f"cannot reschedule a fixture that is {self.status}")
        _check_aware(kickoff, "kick-off")
        check_plausible(kickoff, "kick-off", provenance.received_at)
        self._rescheduled(
            kickoff=kickoff, venue=venue, venue_country=venue_country, provenance=provenance
        )

    @event(Rescheduled)
    def _rescheduled(
        self,
        kickoff: datetime,
        venue: str | None,
        venue_country: str | None,
        provenance: Provenance,
    ) -> None:
        self.kickoff = kickoff
        self.venue = venue
        self.venue_country = venue_country
        self.status = FixtureStatus.SCHEDULED
        self.called_off_reason = None

    def postpone(self, reason: str | None, provenance: Provenance) -> None:
        if self.status != FixtureStatus.SCHEDULED:
            raise IllegalTransition(
                f"only a scheduled fixture can be postponed, this one is {self.status}"
            )
        self._postponed(reason=reason, provenance=provenance)

    @event(Postponed)
    def _postponed(self, reason: str | None, provenance: Provenance) -> None:
        self.status = FixtureStatus.POSTPONED
        self.called_off_reason = reason

    def abandon(self, reason: str | None, provenance: Provenance) -> None:
        if self.status == FixtureStatus.FINISHED:
            raise FixtureFinished("cannot abandon a finished fixture; correct its result instead")
        if self.status == FixtureStatus.ABANDONED:
            raise IllegalTransition("the fixture is already abandoned")
        self._abandoned(reason=reason, provenance=provenance)

    @event(Abandoned)
    def _abandoned(self, reason: str | None, provenance: Provenance) -> None:
        self.status = FixtureStatus.ABANDONED
        self.called_off_reason = reason

    # Play

    def start(self, started_at: datetime | None, provenance: Provenance) -> None:
        if self.status in (FixtureStatus.POSTPONED, FixtureStatus.ABANDONED):
            raise FixtureNotPlayable(f"cannot start a fixture that is {self.status}")
        if self.status == FixtureStatus.IN_PLAY:
            raise FixtureAlreadyStarted(f"the fixture already started at {self.started_at}")
        if self.status == FixtureStatus.FINISHED:
            raise FixtureFinished("cannot start a finished fixture")
        if started_at is not None:
            _check_aware(started_at, "start time")
            check_plausible(started_at, "start time", provenance.received_at)
        self._started(started_at=started_at, provenance=provenance)

    @event(Started)
    def _started(self, started_at: datetime | None, provenance: Provenance) -> None:
        self.status = FixtureStatus.IN_PLAY
        self.started_at = started_at

    def record_goal(
        self,
        *,
        side: Side,
        minute: int,
        stoppage: int = 0,
        player: str | None = None,
        own_goal: bool = False,
        penalty: bool = False,
        provenance: Provenance,
    ) -> None:
        self._require_football("goal")
        self._require_in_play("a goal")
        check_minute(minute, stoppage)
        if own_goal and penalty:
            raise InvalidGoal(f"a goal at {minute}' cannot be both an own goal and a penalty")
        self._goal_scored(
            side=side,
            minute=minute,
            stoppage=stoppage,
            player=player,
            own_goal=own_goal,
            penalty=penalty,
            score=self.score.plus_one(side),
            provenance=provenance,
        )

    @event(GoalScored)
    def _goal_scored(
        self,
        side: Side,
        minute: int,
        stoppage: int,
        player: str | None,
        own_goal: bool,
        penalty: bool,
        score: Score,
        provenance: Provenance,
    ) -> None:
        self.score = score
        self.goals_recorded = self.goals_recorded.plus_one(side)

    def record_card(
        self,
        *,
        card: CardKind,
        side: Side,
        minute: int,
        stoppage: int = 0,
        player: str | None = None,
        provenance: Provenance,
    ) -> None:
        self._require_football("card")
        self._require_in_play("a card")
        check_minute(minute, stoppage)
        self._card_shown(
            card=card,
            side=side,
            minute=minute,
            stoppage=stoppage,
            player=player,
            provenance=provenance,
        )

    @event(CardShown)
    def _card_shown(
        self,
        card: CardKind,
        side: Side,
        minute: int,
        stoppage: int,
        player: str | None,
        provenance: Provenance,
    ) -> None:
        """Cards change no state the rules need; read models keep the timeline."""

    def end_period(self, period: int, score: Score, provenance: Provenance) -> None:
        self._require_in_play("a period end")
        check_period(self.sport, period)
        last = self.last_period
        if last is not None and period <= last:
            raise PeriodOutOfOrder(
                f"{period_name(self.sport, period)} (period {period}) cannot end after"
                f" {period_name(self.sport, last)} (period {last}) has ended"
            )
        self._check_not_behind(score, f"the score at the end of period {period}")
        self._period_ended(period=period, score=score, provenance=provenance)

    @event(PeriodEnded)
    def _period_ended(self, period: int, score: Score, provenance: Provenance) -> None:
        self.period_scores[period] = score
        self.score = score

    def finish(self, score: Score, provenance: Provenance) -> None:
        self._require_in_play("the final whistle")
        self._check_not_behind(score, "the final score")
        self._check_result(score)
        self._finished(score=score, provenance=provenance)

    @event(Finished)
    def _finished(self, score: Score, provenance: Provenance) -> None:
        self.status = FixtureStatus.FINISHED
        self.score = score
        self.result = score

    def correct_result(self, score: Score, reason: str, provenance: Provenance) -> None:
        if self.result is None or self.status != FixtureStatus.FINISHED:
            raise FixtureNotFinished(
                f"only a finished fixture's result can be corrected, this one is {self.status}"
            )
        if not reason.strip():
            raise InvalidCorrection("a result correction needs a reason")
        if score == self.result:
            raise InvalidCorrection(f"the corrected score {score} equals the recorded result")
        self._check_result(score)
        self._result_corrected(
            score=score, previous=self.result, reason=reason, provenance=provenance
        )

    @event(ResultCorrected)
    def _result_corrected(
        self, score: Score, previous: Score, reason: str, provenance: Provenance
    ) -> None:
        self.score = score
        self.result = score

    # Rules shared by several commands

    @property
    def last_period(self) -> int | None:
        return max(self.period_scores, default=None)

    def _require_football(self, what: str) -> None:
        if self.sport != Sport.FOOTBALL:
            raise NotForSport(f"a {what} cannot be recorded for a {self.sport} fixture")

    def _require_in_play(self, what: str) -> None:
        if self.status == FixtureStatus.IN_PLAY:
            return
        if self.status == FixtureStatus.SCHEDULED:
            raise FixtureNotStarted(f"{what} cannot be recorded before the fixture has started")
        if self.status == FixtureStatus.FINISHED:
            raise FixtureFinished(
                f"{what} cannot be recorded after the fixture finished {self.result};"
                " correct the result instead"
            )
        raise FixtureNotPlayable(f"{what} cannot be recorded for a fixture that is {self.status}")

    def _check_not_behind(self, score: Score, what: str) -> None:
        if not score.covers(self.score):
            raise ScoreWentBackwards(
                f"{what} {score} is behind the score already recorded {self.score}"
                f" ({self.goals_recorded} from goal events); correct the result instead"
            )

    def _check_result(self, score: Score) -> None:
        if self.sport == Sport.BASKETBALL and score.is_level:
            raise InvalidScore(f"a basketball game cannot end level, got {score}")


def _check_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidFixture(f"{what} must be timezone-aware, got {moment.isoformat()}")
