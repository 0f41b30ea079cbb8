"""Pre-match features for a football fixture, built only from what is known at the forecast moment.

`FeatureBuilder` consumes forecasting inputs in event-time order and keeps a clock: it refuses an
event older than one it has already seen, and refuses to describe a fixture once its kick-off has
passed. So whatever it returns was computable before kick-off. `features_as_of` replays a history
as it was known at a given moment, which is how a test proves that nothing later leaks in.

Closing lines of earlier matches are fair game (each is known at its own kick-off): how far the
market moved on a team lately, and what it last thought of it, tell where the opening line of
its next match may be stale. The market columns hold the fixture's latest quote the builder
has: the opening prices, then each later move, then the closing prices (`market_at_close` says
when they are the close). Beside the market sit the results-only Poisson probabilities of the
market-free model (forecasting/football/market_free.py).
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from domain.ratings import EloRatings, MarketRatings, PiRatings
from forecasting.errors import ForecastingInputError, ForecastTooLateError
from forecasting.football.goal_ratings import GoalRatings, outcome_probabilities
from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsMoved,
    OddsOpened,
    ResultKnown,
)
from forecasting.football.market_free import ResultsFeatures

FORM_MATCHES = 6
DRIFT_MATCHES = 5
LEAGUE_WINDOW = 380  # about one season of a 20-team league
REST_DAYS_CAP = 21.0
EXPERIENCE_CAP = 76.0  # two seasons: after that a rating is as settled as it gets


class UnknownFixtureError(ForecastingInputError):
    code = "unknown-fixture"


class EventOutOfOrderError(ForecastingInputError):
    code = "event-out-of-order"


class ImpossibleOddsError(ForecastingInputError):
    code = "impossible-odds"


class MissingOpeningOddsError(ForecastingInputError):
    code = "missing-opening-odds"


@dataclass(frozen=True)
class FootballFeatures:
    """One fixture's feature vector; field order is the model's column order."""

    market_home: float
    market_draw: float
    market_away: float
    market_margin: float
    market_expected_score: float
    elo_gap: float
    elo_expected_score: float
    elo_minus_market: float
    pi_goal_difference: float
    pi_home_strength: float
    pi_away_strength: float
    pi_minus_market: float
    home_form_points: float
    away_form_points: float
    home_form_goal_difference: float
    away_form_goal_difference: float
    home_rest_days: float
    away_rest_days: float
    home_experience: float
    away_experience: float
    home_season_matches: float
    league_home_rate: float
    league_draw_rate: float
    home_market_drift: float
    away_market_drift: float
    market_drift_difference: float
    market_rating_logit: float
    market_rating_minus_opening: float
    poisson_home: float
    poisson_draw: float
    poisson_away: float
    market_at_close: float  # 1.0: the market columns hold the closing prices

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_row(self) -> tuple[float, ...]:
        # attrgetter, not dataclasses.astuple: astuple deep-copies and dominates batch scoring.
        row: tuple[float, ...] = _ROW(self)
        return row

    def market_probabilities(self) -> tuple[float, float, float]:
        return (self.market_home, self.market_draw, self.market_away)


_ROW = operator.attrgetter(*FootballFeatures.names())


@dataclass(frozen=True)
class _Played:
    kickoff: datetime
    season: str
    goals_for: int
    goals_against: int

    @property
    def points(self) -> int:
        if self.goals_for > self.goals_against:
            return 3
        return 1 if self.goals_for == self.goals_against else 0


class _Competition:
    def __init__(self) -> None:
        self.elo = EloRatings()
        self.pi = PiRatings()
        self.market = MarketRatings()
        self.goals = GoalRatings()
        self.outcomes: deque[int] = deque(maxlen=LEAGUE_WINDOW)  # 0 home, 1 draw, 2 away
        self.outcome_counts = [0, 0, 0]  # of each outcome in `outcomes`, kept as it slides

    def record_outcome(self, outcome: int) -> None:
        if len(self.outcomes) == LEAGUE_WINDOW:
            self.outcome_counts[self.outcomes[0]] -= 1  # about to slide out
        self.outcomes.append(outcome)
        self.outcome_counts[outcome] += 1

    def share(self, outcome: int, *, prior: float) -> float:
        # Shrunk toward a typical league so that a new competition does not start at 0 or 1.
        weight = 50.0
        return (self.outcome_counts[outcome] + prior * weight) / (len(self.outcomes) + weight)


class FeatureBuilder:
    def __init__(self, *, strict: bool = True, fit_on_result: bool = False) -> None:
        """``strict``: refuse events older than the latest applied (offline training, where
        inputs are sorted). A live forecaster applies events as they arrive (``strict=False``):
        concurrent feeds store fixtures' events slightly out of event-time order, and what has
        arrived is exactly what was known at the forecast moment.

        ``fit_on_result``: refit the league's Poisson strengths when a result arrives rather
        than when the next quote asks (the live forecaster: a quote's forecast then never pays
        the fit). The features are the same either way (the fit is a pure function of the
        results); offline, fitting lazily fits once per batch of results instead of per
        result."""
        self.strict = strict
        self.fit_on_result = fit_on_result
        self._fixtures: dict[str, FixtureAnnounced] = {}
        self._opening: dict[str, OddsOpened] = {}
        self._closing: dict[str, OddsClosed] = {}
        self._moved: dict[str, OddsMoved] = {}  # the latest move before the close
        self._competitions: dict[str, _Competition] = {}
        self._played: dict[tuple[str, str], deque[_Played]] = {}
        # Per team: how much the market moved toward it between open and close, latest last.
        self._drift: dict[tuple[str, str], deque[float]] = {}
        self._clock: datetime | None = None
        self._unfitted: set[str] = set()  # competitions with results since refresh_fits

    @property
    def fits_due(self) -> bool:
        """Whether results came in since :meth:`refresh_fits` (their leagues are fitted when
        a quote asks, or at the next refresh)."""
        return bool(self._unfitted)

    def results_recorded(self, competition: str) -> int:
        """How many results of the competition the builder has learnt from."""
        league = self._competitions.get(competition)
        return 0 if league is None else league.goals.results

    def refresh_fits(self) -> None:
        """Fit every league's Poisson strengths now, where results came in since the last fit."""
        for league in self._competitions.values():
            league.goals.refresh()
        self._unfitted.clear()

    @property
    def clock(self) -> datetime | None:
        """The time of the latest event applied: features describe the world as of then."""
        return self._clock

    def apply(self, event: ForecastInput) -> None:
        if isinstance(event, FixtureAnnounced):
            self._fixtures[event.fixture_id] = event
            return
        self._fixture(event.fixture_id)
        if self._clock is not None and event.at < self._clock:
            if not self.strict:
                self._apply_timed(event)
                return
            raise EventOutOfOrderError(
                f"{type(event).__name__} for {event.fixture_id} at {event.at.isoformat()} "
                f"arrived after an event at {self._clock.isoformat()}"
            )
        self._clock = event.at
        self._apply_timed(event)

    def _apply_timed(self, event: OddsOpened | OddsMoved | OddsClosed | ResultKnown) -> None:
        if isinstance(event, OddsOpened):
            _margin_free((event.home, event.draw, event.away), event.fixture_id)
            self._opening[event.fixture_id] = event
        elif isinstance(event, OddsMoved):
            _margin_free((event.home, event.draw, event.away), event.fixture_id)
            self._moved[event.fixture_id] = event
        elif isinstance(event, OddsClosed):
            self._record_closing(event)
            self._closing[event.fixture_id] = event
        else:
            self._record_result(event)

    def features(self, fixture_id: str) -> FootballFeatures:
        fixture = self._fixture(fixture_id)
        # Offline, the clock is the forecast moment. Live (strict=False), events of different
        # leagues interleave out of event order, so the caller judges lateness by the
        # triggering quote's own time against the fixture's kick-off instead.
        opening = self._opening.get(fixture_id)
        if opening is None:
            raise MissingOpeningOddsError(f"no opening odds yet for {fixture_id}")
        closing = self._closing.get(fixture_id)
        # A closing quote may come at the kick-off instant (the CSVs close at kick-off).
        self._check_not_late(fixture, at_kickoff_allowed=closing is not None)
        latest: OddsOpened | OddsMoved | OddsClosed = opening if closing is None else closing
        moved = self._moved.get(fixture_id)
        if closing is None and moved is not None:
            latest = moved
        p_home, p_draw, p_away = _margin_free((latest.home, latest.draw, latest.away), "")
        margin = 1.0 / latest.home + 1.0 / latest.draw + 1.0 / latest.away - 1.0
        market_score = p_home + 0.5 * p_draw
        free = self._results_features(fixture)
        league = self._competition(fixture.competition)
        home_drift = _mean(self._drift.get((fixture.competition, fixture.home), ()))
        away_drift = _mean(self._drift.get((fixture.competition, fixture.away), ()))
        market_logit = league.market.expected_logit(fixture.home, fixture.away)
        return FootballFeatures(
            market_home=p_home,
            market_draw=p_draw,
            market_away=p_away,
            market_margin=margin,
            market_expected_score=market_score,
            elo_gap=free.elo_gap,
            elo_expected_score=free.elo_expected_score,
            elo_minus_market=free.elo_expected_score - market_score,
            pi_goal_difference=free.pi_goal_difference,
            pi_home_strength=free.pi_home_strength,
            pi_away_strength=free.pi_away_strength,
            # The market's goal-difference view is not observed; its expected score is the proxy.
            pi_minus_market=free.pi_goal_difference - 4.0 * (market_score - 0.5),
            home_form_points=free.home_form_points,
            away_form_points=free.away_form_points,
            home_form_goal_difference=free.home_form_goal_difference,
            away_form_goal_difference=free.away_form_goal_difference,
            home_rest_days=free.home_rest_days,
            away_rest_days=free.away_rest_days,
            home_experience=free.home_experience,
            away_experience=free.away_experience,
            home_season_matches=free.home_season_matches,
            league_home_rate=free.league_home_rate,
            league_draw_rate=free.league_draw_rate,
            home_market_drift=home_drift,
            away_market_drift=away_drift,
            market_drift_difference=home_drift - away_drift,
            market_rating_logit=market_logit,
            market_rating_minus_opening=market_logit - _logit(market_score),
            poisson_home=free.poisson_home,
            poisson_draw=free.poisson_draw,
            poisson_away=free.poisson_away,
            market_at_close=0.0 if closing is None else 1.0,
        )

    def results_features(self, fixture_id: str) -> ResultsFeatures:
        """The fixture's results-only features (no odds needed): the market-free model's row."""
        fixture = self._fixture(fixture_id)
        self._check_not_late(fixture, at_kickoff_allowed=False)
        return self._results_features(fixture)

    def _check_not_late(self, fixture: FixtureAnnounced, *, at_kickoff_allowed: bool) -> None:
        if not self.strict or self._clock is None:
            return
        late = (
            self._clock > fixture.kickoff if at_kickoff_allowed else self._clock >= fixture.kickoff
        )
        if late:
            raise ForecastTooLateError(
                f"{fixture.fixture_id} kicked off at {fixture.kickoff.isoformat()}; the builder's "
                f"clock is {self._clock.isoformat()}, so a pre-match forecast is no longer possible"
            )

    def _results_features(self, fixture: FixtureAnnounced) -> ResultsFeatures:
        league = self._competition(fixture.competition)
        elo, pi = league.elo, league.pi
        elo_gap = elo.rating(fixture.home) + elo.parameters.home_advantage
        elo_gap -= elo.rating(fixture.away)
        home_goals, away_goals = league.goals.expected_goals(
            fixture.home, fixture.away, fixture.kickoff
        )
        rho = league.goals.parameters.low_score_rho
        poisson = outcome_probabilities(home_goals, away_goals, rho=rho)
        home_played = self._played.get((fixture.competition, fixture.home), deque())
        away_played = self._played.get((fixture.competition, fixture.away), deque())
        return ResultsFeatures(
            poisson_home=poisson[0],
            poisson_draw=poisson[1],
            poisson_away=poisson[2],
            home_expected_goals=home_goals,
            away_expected_goals=away_goals,
            elo_gap=elo_gap,
            elo_expected_score=elo.expected(fixture.home, fixture.away),
            pi_goal_difference=pi.expected(fixture.home, fixture.away),
            pi_home_strength=pi.rating(fixture.home).home,
            pi_away_strength=pi.rating(fixture.away).away,
            home_form_points=_mean(p.points for p in home_played),
            away_form_points=_mean(p.points for p in away_played),
            home_form_goal_difference=_mean(p.goals_for - p.goals_against for p in home_played),
            away_form_goal_difference=_mean(p.goals_for - p.goals_against for p in away_played),
            home_rest_days=_rest_days(home_played, fixture.kickoff),
            away_rest_days=_rest_days(away_played, fixture.kickoff),
            home_experience=min(float(elo.matches_rated(fixture.home)), EXPERIENCE_CAP),
            away_experience=min(float(elo.matches_rated(fixture.away)), EXPERIENCE_CAP),
            # Early-season signal, so it only needs to count up to FORM_MATCHES.
            home_season_matches=float(sum(p.season == fixture.season for p in home_played)),
            league_home_rate=league.share(0, prior=0.45),
            league_draw_rate=league.share(1, prior=0.26),
        )

    def _fixture(self, fixture_id: str) -> FixtureAnnounced:
        fixture = self._fixtures.get(fixture_id)
        if fixture is None:
            raise UnknownFixtureError(f"fixture {fixture_id} was never announced")
        return fixture

    def _competition(self, name: str) -> _Competition:
        if name not in self._competitions:
            self._competitions[name] = _Competition()
        return self._competitions[name]

    def _record_closing(self, closing: OddsClosed) -> None:
        fixture = self._fixture(closing.fixture_id)
        p_home, p_draw, _ = _margin_free(
            (closing.home, closing.draw, closing.away), fixture.fixture_id
        )
        closing_score = p_home + 0.5 * p_draw
        self._competition(fixture.competition).market.update(
            fixture.home, fixture.away, closing_score
        )
        opening = self._opening.get(fixture.fixture_id)
        if opening is None:
            return
        o_home, o_draw, _ = _margin_free((opening.home, opening.draw, opening.away), "")
        move = closing_score - (o_home + 0.5 * o_draw)
        for team, toward in ((fixture.home, move), (fixture.away, -move)):
            drift = self._drift.setdefault((fixture.competition, team), deque(maxlen=DRIFT_MATCHES))
            drift.append(toward)

    def _record_result(self, result: ResultKnown) -> None:
        fixture = self._fixture(result.fixture_id)
        hg, ag = result.home_goals, result.away_goals
        league = self._competition(fixture.competition)
        league.elo.update(fixture.home, fixture.away, hg, ag)
        league.pi.update(fixture.home, fixture.away, hg, ag)
        league.goals.record(fixture.home, fixture.away, hg, ag, fixture.kickoff)
        if self.fit_on_result:
            league.goals.refresh()
        else:
            self._unfitted.add(fixture.competition)
        league.record_outcome(0 if hg > ag else 1 if hg == ag else 2)
        for team, scored, conceded in ((fixture.home, hg, ag), (fixture.away, ag, hg)):
            history = self._played.setdefault(
                (fixture.competition, team), deque(maxlen=FORM_MATCHES)
            )
            history.append(_Played(fixture.kickoff, fixture.season, scored, conceded))


def features_as_of(
    history: Iterable[ForecastInput], fixture_id: str, at: datetime
) -> FootballFeatures:
    """The fixture's features from only the part of `history` known at `at`, in any input order."""
    events = list(history)
    builder = FeatureBuilder()
    for event in events:
        if isinstance(event, FixtureAnnounced):
            builder.apply(event)
    timed = [e for e in events if not isinstance(e, FixtureAnnounced) and e.at <= at]
    for event in sorted(timed, key=event_order):
        builder.apply(event)
    return builder.features(fixture_id)


def event_order(
    event: OddsOpened | OddsMoved | OddsClosed | ResultKnown,
) -> tuple[datetime, int, str]:
    """Replay order: time; at one instant what is learnt (results, closes) before new quotes."""
    return (event.at, event_rank(event), event.fixture_id)


def event_rank(event: OddsOpened | OddsMoved | OddsClosed | ResultKnown) -> int:
    """Order among events of one instant: results and closes (0) before openings, moves (1)."""
    return 1 if isinstance(event, OddsOpened | OddsMoved) else 0


def _margin_free(prices: tuple[float, float, float], fixture_id: str) -> tuple[float, float, float]:
    # Proportional margin removal; domain/odds will own this once it exists.
    if min(prices) <= 1.0:
        raise ImpossibleOddsError(f"{fixture_id}: decimal prices must exceed 1, got {prices}")
    implied = [1.0 / price for price in prices]
    booked = sum(implied)
    if booked < 1.0:
        raise ImpossibleOddsError(
            f"{fixture_id}: implied probabilities sum to {booked:.4f} < 1, the prices {prices} "
            "would guarantee a profit"
        )
    return (implied[0] / booked, implied[1] / booked, implied[2] / booked)


def _logit(probability: float) -> float:
    return math.log(probability / (1.0 - probability))


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _rest_days(played: deque[_Played], kickoff: datetime) -> float:
    if not played:
        return REST_DAYS_CAP
    days = (kickoff - played[-1].kickoff).total_seconds() / 86400.0
    return min(days, REST_DAYS_CAP)
