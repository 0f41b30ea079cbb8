"""Training the NBA models from feed events alone, through the forecaster's own `NbaGames`.

Each finished game with a pre-game quote gives one pre-game row (its features as of its last
quote before tip-off, as the last forecast before tip-off used) and its quarter states; seasons
are in order of the games' days. The pre-game model is `train_nba_model` (walk-forward sized;
zero trees means the market itself), the in-play model `train_nba_inplay`. Every finished game,
quoted or not, gives a row to the market-free model (`train_nba_model` in RESULTS_VIEW, sized
the same way; zero trees means Elo itself), which forecasts the games nobody quotes.

The registry's run (`split_holdout`, `holdout_metrics`, `holdout_fingerprint`) trains both on
the seasons before a holdout season and scores that season with the pre-game rows and quarter
states pooled: the NBA file makes both kinds of forecast, so both are what it is judged on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np

from domain.fixture import Fixture
from forecasting.metrics import Probabilities, expected_calibration_error
from forecasting.nba.features import NbaFeatures
from forecasting.nba.inplay import (
    QUARTERS,
    NbaInPlayModel,
    NbaQuarterState,
    train_nba_inplay,
)
from forecasting.nba.live import NbaGames, NbaOutcome
from forecasting.nba.model import (
    RESULTS_VIEW,
    NbaModel,
    NbaModelParameters,
    WinProbabilities,
    home_log_loss,
    train_nba_model,
)

PARAMETERS = NbaModelParameters()
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class PlayedGame:
    """Which game a pre-game row is and how it ended: what a holdout's fingerprint names."""

    fixture_id: UUID
    season: str
    tipoff: datetime
    home_won: bool
    quarters: tuple[int, ...]
    """The quarters whose end gave an in-play state."""


@dataclass(frozen=True)
class NbaTrainingSet:
    seasons: tuple[tuple[str, tuple[NbaFeatures, ...], tuple[bool, ...]], ...]
    """(season, pre-game rows, home won) per season, in order."""
    states: tuple[NbaQuarterState, ...]
    state_home_won: tuple[bool, ...]
    state_seasons: tuple[str, ...]
    games_without_quote: int
    played: tuple[PlayedGame, ...] = ()
    """One per pre-game row, in the order of `seasons`' rows."""
    free_seasons: tuple[tuple[str, tuple[NbaFeatures, ...], tuple[bool, ...]], ...] = ()
    """Every finished game's market-free row (quoted or not), per season, in order."""

    @property
    def games(self) -> int:
        return sum(len(rows) for _, rows, _ in self.seasons)

    def of_seasons(self, wanted: Collection[str]) -> NbaTrainingSet:
        """Only these seasons' games and states (`games_without_quote` stays the whole log's)."""
        seasons: list[tuple[str, tuple[NbaFeatures, ...], tuple[bool, ...]]] = []
        played: list[PlayedGame] = []
        start = 0
        for entry in self.seasons:
            season, rows, _ = entry
            if season in wanted:
                seasons.append(entry)
                played.extend(self.played[start : start + len(rows)])
            start += len(rows)
        kept = [i for i, s in enumerate(self.state_seasons) if s in wanted]
        return NbaTrainingSet(
            free_seasons=tuple(entry for entry in self.free_seasons if entry[0] in wanted),
            seasons=tuple(seasons),
            states=tuple(self.states[i] for i in kept),
            state_home_won=tuple(self.state_home_won[i] for i in kept),
            state_seasons=tuple(self.state_seasons[i] for i in kept),
            games_without_quote=self.games_without_quote,
            played=tuple(played),
        )


@dataclass(frozen=True)
class NbaTraining:
    pregame: NbaModel
    inplay: NbaInPlayModel
    training: NbaTrainingSet
    market_free: NbaModel | None = None


def training_set(events: Iterable[tuple[int, object]]) -> NbaTrainingSet:
    """From feed events in log order: (notification id, domain event)."""
    games = NbaGames()
    finished: list[NbaOutcome] = []
    tipoffs: dict[UUID, datetime] = {}
    for notification_id, event in events:
        outcome = games.learn(event, notification_id)
        if isinstance(outcome, NbaOutcome):
            finished.append(outcome)
        elif isinstance(event, Fixture.Scheduled | Fixture.Rescheduled) and games.follows(
            event.originator_id
        ):
            tipoffs[event.originator_id] = event.kickoff  # when it was played: as last scheduled
    by_season: dict[str, tuple[list[NbaFeatures], list[bool], list[PlayedGame]]] = {}
    states: list[NbaQuarterState] = []
    won: list[bool] = []
    state_seasons: list[str] = []
    free: dict[str, tuple[list[NbaFeatures], list[bool]]] = {}
    without = 0
    for outcome in finished:
        if outcome.pregame is not None:
            free_rows, free_wins = free.setdefault(outcome.season, ([], []))
            free_rows.append(outcome.pregame.features)
            free_wins.append(outcome.home_won)
        if outcome.pregame is None or outcome.pregame.market is None:
            without += 1
            continue
        rows, wins, played = by_season.setdefault(outcome.season, ([], [], []))
        rows.append(outcome.pregame.features)
        wins.append(outcome.home_won)
        played.append(_played(outcome, tipoffs.get(outcome.fixture_id, outcome.pregame.kickoff)))
        states.extend(outcome.quarters)
        won.extend(outcome.home_won for _ in outcome.quarters)
        state_seasons.extend(outcome.season for _ in outcome.quarters)
    ordered = sorted(by_season.items())
    return NbaTrainingSet(
        seasons=tuple((s, tuple(r), tuple(w)) for s, (r, w, _) in ordered),
        states=tuple(states),
        state_home_won=tuple(won),
        state_seasons=tuple(state_seasons),
        games_without_quote=without,
        played=tuple(g for _, (_, _, season_games) in ordered for g in season_games),
        free_seasons=tuple((s, tuple(r), tuple(w)) for s, (r, w) in sorted(free.items())),
    )


def _played(outcome: NbaOutcome, tipoff: datetime) -> PlayedGame:
    return PlayedGame(
        fixture_id=outcome.fixture_id,
        season=outcome.season,
        tipoff=tipoff,
        home_won=outcome.home_won,
        quarters=tuple(s.quarter for s in outcome.quarters),
    )


def train(data: NbaTrainingSet, parameters: NbaModelParameters = PARAMETERS) -> NbaTraining:
    """Raises ValueError if there are too few seasons or no quarter states."""
    seasons = [(list(rows), home_wins(wins)) for _, rows, wins in data.seasons]
    pregame = train_nba_model(seasons, parameters)
    inplay = train_nba_inplay(list(data.states), home_wins(data.state_home_won))
    return NbaTraining(pregame, inplay, data, train_market_free(data, parameters))


def train_market_free(
    data: NbaTrainingSet, parameters: NbaModelParameters = PARAMETERS
) -> NbaModel | None:
    """The market-free pre-game model on every game's row; None when the log holds too few
    seasons for its walk-forward sizing."""
    seasons = [(list(rows), home_wins(wins)) for _, rows, wins in data.free_seasons]
    if len(seasons) <= parameters.validation_seasons:
        return None
    return train_nba_model(seasons, parameters, RESULTS_VIEW)


def home_wins(flags: Iterable[bool]) -> np.typing.NDArray[np.int64]:
    """Outcomes as the NBA models take them: 1 the home side won, 0 it lost."""
    return np.fromiter((int(f) for f in flags), dtype=np.int64)


@dataclass(frozen=True)
class HoldoutSplit:
    """The registry's split: a holdout season and the seasons before it, which alone train."""

    season: str
    training: NbaTrainingSet
    holdout: NbaTrainingSet

    @property
    def seasons(self) -> list[str]:
        """Every season used, training then holdout."""
        return [*(s for s, _, _ in self.training.seasons), self.season]

    def tipoff_range(self) -> tuple[datetime, datetime]:
        tipoffs = [g.tipoff for g in (*self.training.played, *self.holdout.played)]
        return min(tipoffs), max(tipoffs)


def split_holdout(
    data: NbaTrainingSet, season: str | None = None, parameters: NbaModelParameters = PARAMETERS
) -> HoldoutSplit:
    """Hold out `season` (default the last); train on the seasons before it only, so no game
    of the holdout (nor a later one) takes part in fitting. Raises ValueError when too few
    seasons come before it for the pre-game model's walk-forward sizing."""
    seasons = [s for s, _, _ in data.seasons]
    if not seasons:
        raise ValueError("no finished NBA games with a pre-game quote to train on")
    holdout = season or seasons[-1]
    if holdout not in seasons:
        raise ValueError(f"no NBA games of holdout season {holdout} (seasons: {seasons})")
    before = [s for s in seasons if s < holdout]
    if len(before) <= parameters.validation_seasons:
        raise ValueError(
            f"too few NBA seasons before holdout season {holdout}: {len(before)} "
            f"({', '.join(before) or 'none'}); the pre-game model needs more than "
            f"{parameters.validation_seasons} to train on"
        )
    return HoldoutSplit(holdout, data.of_seasons(before), data.of_seasons([holdout]))


def holdout_metrics(
    pregame: NbaModel,
    inplay: NbaInPlayModel,
    holdout: NbaTrainingSet,
    market_free: NbaModel | None = None,
) -> dict[str, float]:
    """Both models on the holdout. ``log_loss`` (the promotion metric) pools every forecast the
    file makes from a quote, each once: a pre-game row per game and a state per quarter end.
    The line is the market's margin-free pre-game probability on the same games. The
    market-free model is scored on every holdout game, quoted or not
    (``log_loss_market_free``, ``ece_market_free``)."""
    rows = [row for _, season_rows, _ in holdout.seasons for row in season_rows]
    won = home_wins(w for _, _, wins in holdout.seasons for w in wins)
    state_won = home_wins(holdout.state_home_won)
    pregame_home = pregame.predict_home(rows)
    inplay_home = inplay.predict_home(holdout.states)
    metrics = {
        "log_loss": home_log_loss(
            np.concatenate([pregame_home, inplay_home]), np.concatenate([won, state_won])
        ),
        "log_loss_pregame": home_log_loss(pregame_home, won),
        "log_loss_line": home_log_loss(np.array([r.market_home for r in rows]), won),
        "ece_pregame": expected_calibration_error(
            _home_away(pregame_home), 1 - won, bins=CALIBRATION_BINS
        ),
        "n_games": float(len(rows)),
        "n_states": float(len(holdout.states)),
        "trees": float(pregame.trees),
    }
    free_rows = [row for _, season_rows, _ in holdout.free_seasons for row in season_rows]
    if market_free is not None and free_rows:
        free_won = home_wins(w for _, _, wins in holdout.free_seasons for w in wins)
        free_home = market_free.predict_home(free_rows)
        metrics["log_loss_market_free"] = home_log_loss(free_home, free_won)
        metrics["ece_market_free"] = expected_calibration_error(
            _home_away(free_home), 1 - free_won, bins=CALIBRATION_BINS
        )
        metrics["n_games_market_free"] = float(len(free_rows))
    for quarter in QUARTERS:  # a quarter no holdout game reached has no score
        ended = [i for i, s in enumerate(holdout.states) if s.quarter == quarter]
        if ended:
            metrics[f"log_loss_q{quarter}"] = home_log_loss(inplay_home[ended], state_won[ended])
    return metrics


def _home_away(home: WinProbabilities) -> Probabilities:
    """Two-way probabilities; metrics.py's ECE takes a column per outcome (home won is 0).
    Its ECE over both columns equals the home probability's alone: the away column mirrors it
    bin for bin (up to a probability exactly on a bin edge)."""
    return np.column_stack([home, 1.0 - home]).astype(np.float64)


def holdout_fingerprint(holdout: NbaTrainingSet) -> str:
    """sha256 over the holdout games (fixture id, who won, which quarter ends gave a state):
    equal fingerprints, the same forecasts scored against the same outcomes."""
    if len(holdout.played) != holdout.games:
        raise ValueError("the training set was built without its games' identities")
    digest = hashlib.sha256()
    for game in sorted(holdout.played, key=lambda g: str(g.fixture_id)):
        quarters = ",".join(map(str, game.quarters))
        digest.update(f"{game.fixture_id}:{int(game.home_won)}:{quarters}\n".encode())
    return digest.hexdigest()
