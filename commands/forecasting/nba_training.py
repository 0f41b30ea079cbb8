"""Training the NBA models from feed events alone, through the forecaster's own `NbaGames`.

Each finished game with a pre-game quote gives one pre-game row (its features as of its last
quote before tip-off, as the last forecast before tip-off used) and its quarter states; seasons
are in order of the games' days. The pre-game model is `train_nba_model` (walk-forward sized;
zero trees means the market itself), the in-play model `train_nba_inplay`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from commands.forecasting.nba_features import NbaFeatures
from commands.forecasting.nba_inplay import NbaInPlayModel, NbaQuarterState, train_nba_inplay
from commands.forecasting.nba_live import NbaGames, NbaOutcome
from commands.forecasting.nba_model import NbaModel, NbaModelParameters, train_nba_model

PARAMETERS = NbaModelParameters()


@dataclass(frozen=True)
class NbaTrainingSet:
    seasons: tuple[tuple[str, tuple[NbaFeatures, ...], tuple[bool, ...]], ...]
    """(season, pre-game rows, home won) per season, in order."""
    states: tuple[NbaQuarterState, ...]
    state_home_won: tuple[bool, ...]
    state_seasons: tuple[str, ...]
    games_without_quote: int

    @property
    def games(self) -> int:
        return sum(len(rows) for _, rows, _ in self.seasons)


@dataclass(frozen=True)
class NbaTraining:
    pregame: NbaModel
    inplay: NbaInPlayModel
    training: NbaTrainingSet


def training_set(events: Iterable[tuple[int, object]]) -> NbaTrainingSet:
    """From feed events in log order: (notification id, domain event)."""
    games = NbaGames()
    finished: list[NbaOutcome] = []
    for notification_id, event in events:
        outcome = games.learn(event, notification_id)
        if isinstance(outcome, NbaOutcome):
            finished.append(outcome)
    by_season: dict[str, tuple[list[NbaFeatures], list[bool]]] = {}
    states: list[NbaQuarterState] = []
    won: list[bool] = []
    state_seasons: list[str] = []
    without = 0
    for outcome in finished:
        if outcome.pregame is None:
            without += 1
            continue
        rows, wins = by_season.setdefault(outcome.season, ([], []))
        rows.append(outcome.pregame.features)
        wins.append(outcome.home_won)
        states.extend(outcome.quarters)
        won.extend(outcome.home_won for _ in outcome.quarters)
        state_seasons.extend(outcome.season for _ in outcome.quarters)
    return NbaTrainingSet(
        seasons=tuple((s, tuple(r), tuple(w)) for s, (r, w) in sorted(by_season.items())),
        states=tuple(states),
        state_home_won=tuple(won),
        state_seasons=tuple(state_seasons),
        games_without_quote=without,
    )


def train(data: NbaTrainingSet, parameters: NbaModelParameters = PARAMETERS) -> NbaTraining:
    """Raises ValueError if there are too few seasons or no quarter states."""
    seasons = [(list(rows), home_wins(wins)) for _, rows, wins in data.seasons]
    pregame = train_nba_model(seasons, parameters)
    inplay = train_nba_inplay(list(data.states), home_wins(data.state_home_won))
    return NbaTraining(pregame, inplay, data)


def home_wins(flags: Iterable[bool]) -> np.typing.NDArray[np.int64]:
    """Outcomes as the NBA models take them: 1 the home side won, 0 it lost."""
    return np.fromiter((int(f) for f in flags), dtype=np.int64)
