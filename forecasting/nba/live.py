"""NBA games as the forecaster sees them, kept from the feed's events alone.

The same class serves the live forecaster and training from the event store, so a model is
trained on exactly the feature rows and quarter states the forecaster will build.

- A game's day is its tip-off's date in US Eastern time (how the league schedules, and how the
  dataset dates games). Results of a day are held back until a game of a later day is
  forecast, so a forecast for day D uses every result of earlier days and none of D's own
  (what `NbaFeatureBuilder` enforces), even when an early game ends before a late one's line.
- A pre-game moment is every moneyline quote before tip-off; an in-play moment is the end of
  quarters 1-3, with the game's last pre-game quote (margin-free) as its prior.
- A game nobody quoted gets one pre-game moment at tip-off with no market (`market` None): the
  market-free model forecasts it from results alone, with every earlier day's results in, and
  its quarter ends start from that forecast (the scorer puts the prior in, drafts.py).
- The feed does not say whether a game is a playoff game, so `playoffs` is always False here;
  training from the store sees the same.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.errors import DomainError
from domain.fixture import Fixture
from domain.odds import Market, QuoteStage
from domain.odds_book import OddsBook
from domain.sport import Sport
from forecasting.errors import ForecastingInputError
from forecasting.nba.features import NbaFeatureBuilder, NbaFeatures
from forecasting.nba.inplay import QUARTERS, NbaQuarterState
from forecasting.nba.inputs import NbaGameResult, NbaGameScheduled, NbaMoneyline

NBA_DAY_ZONE = ZoneInfo("America/New_York")
Probabilities2 = tuple[float, float]


@dataclass(frozen=True)
class NbaPreGame:
    """A moneyline quote before tip-off, with the game's features as of it; or the tip-off of
    a game nobody quoted (`market` None, market columns NaN)."""

    fixture_id: UUID
    kickoff: datetime
    features: NbaFeatures
    market: Probabilities2 | None  # the quote's margin-free (home, away); None: no quote
    stage: QuoteStage | None
    inputs: tuple[int, ...]  # the announcement, the first quote, this quote (or the tip-off)


@dataclass(frozen=True)
class NbaQuarterEnd:
    """The end of quarter 1, 2 or 3 of a game that had a pre-game moment."""

    fixture_id: UUID
    kickoff: datetime
    state: NbaQuarterState
    market: Probabilities2 | None  # the last pre-game quote: the state's prior
    inputs: tuple[int, ...]
    pregame: NbaFeatures | None = None
    """No quote: the tip-off features, from which the market-free model gives the prior (the
    state's `pregame_home` is then Elo's, a placeholder until scored)."""


NbaMoment = NbaPreGame | NbaQuarterEnd


@dataclass(frozen=True)
class NbaOutcome:
    """A finished game: whether the home side won, with its last pre-game moment."""

    fixture_id: UUID
    season: str
    home_won: bool
    pregame: NbaPreGame | None
    quarters: tuple[NbaQuarterState, ...]


@dataclass
class _Game:
    scheduled: NbaGameScheduled
    kickoff: datetime
    inputs: list[int]
    started: bool = False
    pregame: NbaPreGame | None = None
    running: list[tuple[int, int]] = field(default_factory=list)  # score at each period's end
    quarters: list[NbaQuarterState] = field(default_factory=list)
    last_quarter: NbaQuarterEnd | None = None


class NbaGames:
    def __init__(self) -> None:
        self.builder = NbaFeatureBuilder()
        self._games: dict[UUID, _Game] = {}
        self._books: dict[UUID, UUID] = {}  # moneyline odds book -> fixture
        self._held: list[tuple[date, str, NbaGameResult]] = []  # results not yet applied
        self.skipped_results = 0  # results that came after a later day's forecast

    def follows(self, fixture_id: UUID) -> bool:
        return fixture_id in self._games

    def learn(self, event: object, notification_id: int) -> NbaMoment | NbaOutcome | None:
        """Take one feed event; what it means for forecasting, if anything."""
        if isinstance(event, OddsBook.OddsQuoted):
            return self._quoted(event, notification_id)
        if isinstance(event, Fixture.Scheduled):
            self._scheduled(event, notification_id)
            return None
        if isinstance(event, OddsBook.Opened):
            if event.market == Market.MONEYLINE and event.fixture_id in self._games:
                self._books[event.originator_id] = event.fixture_id
            return None
        game = self._games.get(event.originator_id) if isinstance(event, Fixture.Event) else None
        if game is None:
            return None
        if isinstance(event, Fixture.Rescheduled):
            game.kickoff = event.kickoff
            game.scheduled = replace(game.scheduled, day=nba_day(event.kickoff))
            self.builder.schedule(game.scheduled)
        elif isinstance(event, Fixture.Started):
            game.started = True
            if game.pregame is None:
                return self._tipoff_without_quote(game, event.originator_id, notification_id)
        elif isinstance(event, Fixture.PeriodEnded):
            return self._period_ended(game, event, notification_id)
        elif isinstance(event, Fixture.Finished):
            return self._finished(game, event)
        elif isinstance(event, Fixture.Abandoned):
            self._drop(event.originator_id, game)
        return None

    def latest(self) -> list[NbaMoment]:
        """What each game followed was last forecast from, by fixture id: its last pre-game
        moment before tip-off, its last quarter end after (what a new model re-forecasts)."""
        moments: list[NbaMoment] = []
        for fixture_id in sorted(self._games):
            game = self._games[fixture_id]
            moment = game.last_quarter if game.started else game.pregame
            if moment is not None:
                moments.append(moment)
        return moments

    def release_results(self) -> None:
        """Apply every result held back (at the end of a training history)."""
        self._release(date.max)

    def _scheduled(self, event: Fixture.Scheduled, notification_id: int) -> None:
        if event.sport != Sport.BASKETBALL:
            return
        scheduled = NbaGameScheduled(
            game_id=str(event.originator_id),
            season=event.season,
            day=nba_day(event.kickoff),
            home=event.home,
            away=event.away,
            playoffs=False,
        )
        self.builder.schedule(scheduled)
        self._games[event.originator_id] = _Game(scheduled, event.kickoff, [notification_id])

    def _quoted(self, event: OddsBook.OddsQuoted, notification_id: int) -> NbaPreGame | None:
        fixture_id = self._books.get(event.originator_id)
        game = None if fixture_id is None else self._games.get(fixture_id)
        if fixture_id is None or game is None or game.started or event.quoted_at >= game.kickoff:
            return None
        if len(event.raw_prices) != 2 or len(event.probabilities) != 2:
            return None
        if len(game.inputs) == 1:
            game.inputs.append(notification_id)  # the first quote: a feature input
        self._release(game.scheduled.day)
        line = NbaMoneyline(
            game.scheduled.game_id, event.raw_prices[0], event.raw_prices[1], event.price_format
        )
        try:
            features = self.builder.features(game.scheduled.game_id, line)
        except (ForecastingInputError, DomainError):
            return None  # an implausible line, or a day whose results are already in
        home, away = (float(p) for p in event.probabilities)
        game.pregame = NbaPreGame(
            fixture_id=fixture_id,
            kickoff=game.kickoff,
            features=features,
            market=(home, away),
            stage=QuoteStage(event.stage) if event.stage else None,
            inputs=tuple(dict.fromkeys([*game.inputs, notification_id])),
        )
        return game.pregame

    def _tipoff_without_quote(
        self, game: _Game, fixture_id: UUID, notification_id: int
    ) -> NbaPreGame | None:
        self._release(game.scheduled.day)
        try:
            features = self.builder.features(game.scheduled.game_id, None)
        except ForecastingInputError:
            return None  # a day whose results are already in
        game.pregame = NbaPreGame(
            fixture_id=fixture_id,
            kickoff=game.kickoff,
            features=features,
            market=None,
            stage=None,
            inputs=tuple(dict.fromkeys([*game.inputs, notification_id])),
        )
        return game.pregame

    def _period_ended(
        self, game: _Game, event: Fixture.PeriodEnded, notification_id: int
    ) -> NbaQuarterEnd | None:
        game.running.append((event.score.home, event.score.away))
        game.inputs.append(notification_id)
        if event.period not in QUARTERS or game.pregame is None:
            return None
        prior = game.pregame.market
        lead = event.score.home - event.score.away
        if prior is None:
            elo = game.pregame.features.elo_probability
            state = NbaQuarterState(event.period, lead, min(max(elo, 1e-6), 1.0 - 1e-6))
        elif not 0.0 < prior[0] < 1.0:
            return None
        else:
            state = NbaQuarterState(event.period, lead, prior[0])
            game.quarters.append(state)  # training states: market priors only
        game.last_quarter = NbaQuarterEnd(
            fixture_id=event.originator_id,
            kickoff=game.kickoff,
            state=state,
            market=prior,
            inputs=tuple(dict.fromkeys([*game.pregame.inputs, *game.inputs])),
            pregame=game.pregame.features if prior is None else None,
        )
        return game.last_quarter

    def _finished(self, game: _Game, event: Fixture.Finished) -> NbaOutcome | None:
        home, away = event.score.home, event.score.away
        self._drop(event.originator_id, game)
        if home == away:
            return None  # not a possible NBA final; the feed's own check lets it through
        quarters = _quarter_points(game.running)
        result = NbaGameResult(game.scheduled.game_id, home, away, quarters[0], quarters[1])
        bisect.insort(self._held, (game.scheduled.day, result.game_id, result))
        return NbaOutcome(
            fixture_id=event.originator_id,
            season=game.scheduled.season,
            home_won=home > away,
            pregame=game.pregame,
            quarters=tuple(game.quarters),
        )

    def _drop(self, fixture_id: UUID, game: _Game) -> None:
        # The schedule stays in the builder: a held result needs it.
        del self._games[fixture_id]
        self._books = {b: f for b, f in self._books.items() if f != fixture_id}

    def _release(self, before: date) -> None:
        """Apply held results of days before `before`, in day order."""
        count = bisect.bisect_left(self._held, (before,))
        for _, _, result in self._held[:count]:
            try:
                self.builder.record(result)
            except ForecastingInputError:
                self.skipped_results += 1  # its day is behind results already applied
        del self._held[:count]


def nba_day(kickoff: datetime) -> date:
    return kickoff.astimezone(NBA_DAY_ZONE).date()


def _quarter_points(
    running: list[tuple[int, int]],
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Each side's points in quarters 1-4 from the running score at each period's end (zeros
    where the feed sent no such period)."""
    home, away = [0, 0, 0, 0], [0, 0, 0, 0]
    before = (0, 0)
    for i, (h, a) in enumerate(running[:4]):
        home[i], away[i] = h - before[0], a - before[1]
        before = (h, a)
    return (home[0], home[1], home[2], home[3]), (away[0], away[1], away[2], away[3])
