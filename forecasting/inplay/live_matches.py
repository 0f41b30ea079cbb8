"""Started football fixtures as the in-play model sees them, kept from the feed's events.

A match's state is the regulation clock, the score and the red cards, plus its pre-match 1X2
(the last market quote before kick-off, margin-free). Goals, cards and the end of a half are the
moments worth a new in-play forecast; each yields a :class:`InMatchMoment`. Extra time is outside
what the model forecasts (the result after 90 minutes), so moments past minute 90 yield nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from domain.fixture import Fixture
from domain.in_match import CardKind
from domain.sport import Side
from forecasting.inplay.model import REGULATION, MatchState

HALF_TIME = 45
_SENT_OFF = (CardKind.RED, CardKind.SECOND_YELLOW)


@dataclass(frozen=True)
class InMatchMoment:
    """An in-match event of a started fixture, with the state right after it."""

    fixture_id: UUID
    state: MatchState
    input_notification_ids: tuple[int, ...]
    """The fixture's in-match events so far, the triggering one last."""


@dataclass
class _Match:
    prior: tuple[float, float, float] | None
    home_goals: int = 0
    away_goals: int = 0
    home_reds: int = 0
    away_reds: int = 0
    inputs: list[int] = field(default_factory=list)
    last: InMatchMoment | None = None  # the latest moment forecast from


class LiveMatches:
    """Which football fixtures are in play and how each stands. Deterministic in log order."""

    def __init__(self) -> None:
        self._matches: dict[UUID, _Match] = {}

    def start(self, fixture_id: UUID, prior: tuple[float, float, float] | None) -> None:
        self._matches[fixture_id] = _Match(prior)

    def end(self, fixture_id: UUID) -> None:
        self._matches.pop(fixture_id, None)

    def apply(self, event: object, notification_id: int) -> InMatchMoment | None:
        """The moment an in-match event makes, for a fixture this has seen start."""
        if not isinstance(event, Fixture.GoalScored | Fixture.CardShown | Fixture.PeriodEnded):
            return None
        match = self._matches.get(event.originator_id)
        if match is None:
            return None
        match.inputs.append(notification_id)
        if isinstance(event, Fixture.GoalScored):
            match.home_goals, match.away_goals = event.score.home, event.score.away
            minute = event.minute
        elif isinstance(event, Fixture.CardShown):
            if event.card in _SENT_OFF:
                if event.side == Side.HOME:
                    match.home_reds += 1
                else:
                    match.away_reds += 1
            minute = event.minute
        else:
            match.home_goals, match.away_goals = event.score.home, event.score.away
            minute = {1: HALF_TIME, 2: REGULATION}.get(event.period, REGULATION + 1)
        if match.prior is None or minute > REGULATION:
            return None  # no pre-match market to start from, or extra time
        try:
            state = MatchState(
                minute=minute,
                home_goals=match.home_goals,
                away_goals=match.away_goals,
                home_reds=match.home_reds,
                away_reds=match.away_reds,
                prior=match.prior,
            )
        except ValueError:
            return None  # a prior that is not a distribution: nothing to start from
        match.last = InMatchMoment(event.originator_id, state, tuple(match.inputs))
        return match.last

    def latest(self) -> list[InMatchMoment]:
        """Each match in play's latest moment (what a new model re-forecasts), by fixture id."""
        moments = (m.last for m in self._matches.values() if m.last is not None)
        return sorted(moments, key=lambda moment: moment.fixture_id)
