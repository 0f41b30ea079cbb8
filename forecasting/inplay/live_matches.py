"""Started football fixtures as the in-play model sees them, kept from the feed's events.

A match's state is the regulation clock, the score and the red cards, plus its pre-match 1X2:
the last market quote before kick-off (margin-free) or, for a match nobody quoted, the
market-free model's (the Elo prior, `prior_kind` says which). Goals, cards and the end of a half
are the moments worth a new in-play forecast; each yields a :class:`InMatchMoment`. Extra time is
outside what the model forecasts (the result after 90 minutes), so moments past minute 90 yield
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from domain.fixture import Fixture
from domain.forecast import MARKET_FREE_PRIOR, MARKET_PRIOR
from domain.in_match import CardKind
from domain.sport import Side
from forecasting.football.market_free import ResultsFeatures
from forecasting.inplay.model import DRAW_PEAK, REGULATION, MatchState, one_x_two

HALF_TIME = 45
_SENT_OFF = (CardKind.RED, CardKind.SECOND_YELLOW)


@dataclass(frozen=True)
class InMatchMoment:
    """An in-match event of a started fixture, with the state right after it."""

    fixture_id: UUID
    state: MatchState
    input_notification_ids: tuple[int, ...]
    """The fixture's in-match events so far, the triggering one last."""
    prior_kind: str = MARKET_PRIOR
    elo_expected: float | None = None
    """Market-free: the Elo prior's expected score at kick-off. The state's prior is then a
    placeholder; the in-play model's own draw peak turns this into the 1X2 prior (prior_for)."""
    results: ResultsFeatures | None = None
    """Market-free in a league: the results-only row at kick-off, from which the football
    artifact's market-free model gives the prior (preferred to the Elo prior when loaded)."""

    def starting_from(self, prior: tuple[float, float, float]) -> InMatchMoment:
        """The moment with this 1X2 prior (a market-free model's forecast at kick-off)."""
        return replace(self, state=replace(self.state, prior=prior))

    def prior_for(self, draw_peak: float, elo_scale: float = 1.0) -> InMatchMoment:
        """The moment with the prior the model starts from (a market-free one from the model's
        Elo calibration, draw peak and logit scale; a market one as it is)."""
        if self.elo_expected is None:
            return self
        prior = one_x_two(self.elo_expected, draw_peak, elo_scale)
        return replace(self, state=replace(self.state, prior=prior))


@dataclass(frozen=True)
class FootballKickOff:
    """A football fixture nobody quoted kicks off: the moment of its market-free pre-match
    forecast (the Elo prior's expected score as of then)."""

    fixture_id: UUID
    kickoff: datetime
    elo_expected: float
    notification_id: int
    results: ResultsFeatures | None = None
    """In a league with a rated history: the fixture's results-only row at kick-off (the
    market-free model's input); None at a tournament, where the Elo prior serves."""


@dataclass
class _Match:
    prior: tuple[float, float, float] | None
    prior_kind: str
    elo_expected: float | None
    results: ResultsFeatures | None = None
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

    def start(
        self,
        fixture_id: UUID,
        prior: tuple[float, float, float] | None,
        *,
        elo_expected: float | None = None,
        results: ResultsFeatures | None = None,
    ) -> None:
        """A match kicks off from its last pre-match quote (`prior`) or, without one, from the
        market-free Elo prior's expected score (`elo_expected`) and, in a league, its
        results-only row (`results`)."""
        if prior is None and elo_expected is not None:
            placeholder = one_x_two(elo_expected, DRAW_PEAK)
            self._matches[fixture_id] = _Match(
                placeholder, MARKET_FREE_PRIOR, elo_expected, results
            )
        else:
            self._matches[fixture_id] = _Match(prior, MARKET_PRIOR, None)

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
        match.last = InMatchMoment(
            event.originator_id,
            state,
            tuple(match.inputs),
            match.prior_kind,
            match.elo_expected,
            match.results,
        )
        return match.last

    def latest(self) -> list[InMatchMoment]:
        """Each match in play's latest moment (what a new model re-forecasts), by fixture id."""
        moments = (m.last for m in self._matches.values() if m.last is not None)
        return sorted(moments, key=lambda moment: moment.fixture_id)
