"""Walk-forward evaluation of the NBA home-win model and the in-play quarter model.

Pre-game: for each of the last five seasons S present, train on every earlier season (the last
of them sizes and calibrates the model), forecast S from the morning of each game day, and score
model and moneyline (margin removed proportionally) on the same games. Games without a usable
moneyline are skipped (not forecast, not scored); their results still feed the ratings.

In-play: for the same seasons, a per-quarter logistic regression trained on earlier seasons
gives the home-win probability after Q1, Q2 and Q3 from the lead and the pre-game probability
(the moneyline's); it is scored against that pre-game probability on the same games.

Usage: .venv/bin/python -m benchmarks.eval_nba   (data from $SPORTCAST_DATA_DIR,
default ../shared/data relative to the repository)
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from domain.errors import DomainError
from forecasting.football.evaluation import paired_bootstrap
from forecasting.nba.features import (
    NbaFeatures,
    NbaInputError,
    moneyline_home_probability,
    walk_forward_features,
)
from forecasting.nba.inplay import QUARTERS, quarter_states, train_nba_inplay
from forecasting.nba.inputs import NbaGameResult, NbaGameScheduled, NbaMoneyline
from forecasting.nba.model import RESULTS_VIEW, NbaModelParameters, train_nba_model
from forecasting.nba.model import home_accuracy as accuracy
from forecasting.nba.model import home_brier_score as brier
from forecasting.nba.model import home_calibration_error as calibration_error
from forecasting.nba.model import home_log_loss as log_loss

ROOT = Path(__file__).resolve().parents[1]
EVALUATED_SEASONS = 5
PARAMETERS = NbaModelParameters(thread_count=1)


@dataclass(frozen=True)
class Game:
    scheduled: NbaGameScheduled
    result: NbaGameResult
    moneyline: NbaMoneyline | None
    skipped_because: str | None


@dataclass(frozen=True)
class Scored:
    game: Game
    features: NbaFeatures
    home_won: int


def main() -> int:
    data_dir = Path(os.environ.get("SPORTCAST_DATA_DIR", ROOT.parent / "shared" / "data"))
    started = time.perf_counter()
    games = read_games(data_dir / "nba" / "games.csv")
    usable = [g for g in games if g.skipped_because != "level score"]
    features = walk_forward_features(
        (g.scheduled for g in usable),
        {g.scheduled.game_id: g.result for g in usable},
        {g.scheduled.game_id: g.moneyline for g in usable if g.moneyline is not None},
    )
    scored = [
        Scored(g, features[g.scheduled.game_id], int(g.result.home_points > g.result.away_points))
        for g in usable
        if g.scheduled.game_id in features
    ]
    print(f"games read: {len(games)}, forecast (valid moneyline): {len(scored)}")
    print(f"feature pass: {time.perf_counter() - started:.1f} s")
    seasons = sorted({s.game.scheduled.season for s in scored})
    evaluated = seasons[-EVALUATED_SEASONS:]
    for label, subset in (
        ("all seasons", games),
        ("evaluated seasons", [g for g in games if g.scheduled.season in evaluated]),
    ):
        reasons = Counter(g.skipped_because for g in subset if g.skipped_because is not None)
        print(f"skipped ({label}): {dict(sorted(reasons.items())) or 'none'}")
    evaluate_pregame(scored, seasons, evaluated)
    evaluate_inplay(scored, evaluated)
    evaluate_market_free(usable, evaluated)
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")
    return 0


def read_games(path: Path) -> list[Game]:
    games: list[Game] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            game_id = f"{row['date']}/{row['home']}/{row['away']}"
            scheduled = NbaGameScheduled(
                game_id=game_id,
                season=row["season"],
                day=date.fromisoformat(row["date"]),
                home=row["home"],
                away=row["away"],
                playoffs=row["playoffs"] == "True",
            )
            result = NbaGameResult(
                game_id=game_id,
                home_points=int(row["score_home"]),
                away_points=int(row["score_away"]),
                home_quarters=_quarters(row, "home"),
                away_quarters=_quarters(row, "away"),
            )
            moneyline, problem = _moneyline(row, game_id)
            if result.home_points == result.away_points:
                problem = "level score"
            games.append(Game(scheduled, result, moneyline, problem))
    games.sort(key=lambda g: (g.scheduled.day, g.scheduled.game_id))
    return games


def evaluate_pregame(scored: list[Scored], seasons: list[str], evaluated: list[str]) -> None:
    print(f"\npre-game model, parameters: {PARAMETERS}")
    print(
        f"{'season':<8} {'n':>5} {'train':>6} {'trees':>5} {'v gain':>7} {'fit s':>6}  "
        f"{'LL mdl':>7} {'LL ml':>7}  {'Br mdl':>7} {'Br ml':>7}  {'acc mdl':>7} {'acc ml':>7}"
        f"  {'ECE mdl':>7} {'ECE ml':>7}"
    )
    all_p: list[NDArray[np.float64]] = []
    all_rows: list[Scored] = []
    for season in evaluated:
        by_season = [[s for s in scored if s.game.scheduled.season == p] for p in seasons]
        training = [rows for rows, p in zip(by_season, seasons, strict=True) if p < season]
        test = [s for s in scored if s.game.scheduled.season == season]
        fit_started = time.perf_counter()
        model = train_nba_model([([s.features for s in r], _wins(r)) for r in training], PARAMETERS)
        fit_seconds = time.perf_counter() - fit_started
        p = model.predict_home([s.features for s in test])
        all_p.append(p)
        all_rows.extend(test)
        extra = f"{sum(len(r) for r in training):>6} {model.trees:>5} "
        extra += f"{model.validation_gain:>7.5f} {fit_seconds:>6.1f}"
        _line(season, test, p, extra)
    _line("overall", all_rows, np.concatenate(all_p), f"{'':>6} {'':>5} {'':>7} {'':>6}")


def evaluate_market_free(games: list[Game], evaluated: list[str]) -> None:
    """The market-free pre-game model (RESULTS_VIEW: Elo with a learnt home advantage, boosted
    by rest, form and point differential, never a price) on every game, quoted or not, each
    season trained on earlier seasons; scored against Elo alone and, where there is a line,
    the line on the same games."""
    features = walk_forward_features(
        (g.scheduled for g in games),
        {g.scheduled.game_id: g.result for g in games},
        {g.scheduled.game_id: g.moneyline for g in games if g.moneyline is not None},
        without_line=True,
    )
    rows = [
        (g, features[g.scheduled.game_id], int(g.result.home_points > g.result.away_points))
        for g in games
    ]
    seasons = sorted({g.scheduled.season for g, _, _ in rows})
    print("\nmarket-free pre-game model (every game; no price seen), trained on earlier seasons")
    print(
        f"{'season':<8} {'n':>5} {'trees':>5}  {'LL free':>7} {'LL elo':>7}  {'ECE free':>8}  "
        f"{'n line':>6} {'LL free':>7} {'LL line':>7}"
    )
    pooled: list[tuple[float, float, float, int, bool]] = []
    for season in evaluated:
        training = [
            (
                [f for g, f, _ in rows if g.scheduled.season == s],
                np.array([y for g, _, y in rows if g.scheduled.season == s], dtype=np.int64),
            )
            for s in seasons
            if s < season
        ]
        test = [(g, f, y) for g, f, y in rows if g.scheduled.season == season]
        model = train_nba_model(training, PARAMETERS, RESULTS_VIEW)
        free = model.predict_home([f for _, f, _ in test])
        for (g, f, y), p in zip(test, free, strict=True):
            quoted = g.moneyline is not None and g.skipped_because is None
            pooled.append((float(p), f.elo_probability, f.market_home, y, quoted))
        _free_line(season, pooled[-len(test) :], f"{model.trees:>5}")
    _free_line("overall", pooled, f"{'':>5}")
    _free_intervals(pooled)


def _free_intervals(rows: list[tuple[float, float, float, int, bool]]) -> None:
    """Paired bootstrap 95% intervals (games resampled): the market-free log loss, and its
    difference from the line on the quoted games."""
    free = np.array([r[0] for r in rows])
    line = np.array([r[2] for r in rows])
    y = np.array([r[3] for r in rows], dtype=np.int64)
    quoted = np.array([r[4] for r in rows])

    def losses(p: NDArray[np.float64]) -> NDArray[np.float64]:
        chosen = np.clip(np.where(y == 1, p, 1.0 - p), 1e-15, 1.0)
        result: NDArray[np.float64] = -np.log(chosen)
        return result

    alone = paired_bootstrap(losses(free), np.zeros(len(y)))
    print(f"  market-free log loss {alone.estimate:.5f} [{alone.low:.5f}, {alone.high:.5f}]")
    if quoted.any():
        d = paired_bootstrap(losses(free)[quoted], losses(line)[quoted])
        print(f"  minus the line (quoted games) {d.estimate:+.5f} [{d.low:+.5f}, {d.high:+.5f}]")


def _free_line(label: str, rows: list[tuple[float, float, float, int, bool]], extra: str) -> None:
    free = np.array([r[0] for r in rows])
    elo = np.array([r[1] for r in rows])
    line = np.array([r[2] for r in rows])
    y = np.array([r[3] for r in rows], dtype=np.int64)
    quoted = np.array([r[4] for r in rows])
    print(
        f"{label:<8} {len(y):>5} {extra}  {log_loss(free, y):>7.5f} {log_loss(elo, y):>7.5f}  "
        f"{calibration_error(free, y):>8.4f}  {int(quoted.sum()):>6} "
        f"{log_loss(free[quoted], y[quoted]):>7.5f} {log_loss(line[quoted], y[quoted]):>7.5f}"
    )


def evaluate_inplay(scored: list[Scored], evaluated: list[str]) -> None:
    print("\nin-play after each quarter (pre-game = moneyline), trained on earlier seasons")
    print(
        f"{'season':<8} {'n':>5}  {'LL pre':>7} "
        + " ".join(f"{'LL Q' + str(q):>7}" for q in QUARTERS)
        + "  "
        + " ".join(f"{'ECE Q' + str(q):>7}" for q in QUARTERS)
    )
    pooled: dict[int, list[tuple[float, int]]] = {q: [] for q in (0, *QUARTERS)}
    for season in evaluated:
        train = [s for s in scored if s.game.scheduled.season < season]
        test = [s for s in scored if s.game.scheduled.season == season]
        train_states = [
            st for s in train for st in quarter_states(s.game.result, s.features.market_home)
        ]
        train_y = np.array([s.home_won for s in train for _ in QUARTERS], dtype=np.int64)
        model = train_nba_inplay(train_states, train_y)
        y = _wins(test)
        pre = np.array([s.features.market_home for s in test])
        by_quarter = {0: pre}
        for q in QUARTERS:
            states = [quarter_states(s.game.result, s.features.market_home)[q - 1] for s in test]
            by_quarter[q] = model.predict_home(states)
        for q, p in by_quarter.items():
            pooled[q].extend(zip(p.tolist(), y.tolist(), strict=True))
        _inplay_line(season, y, by_quarter)
    y_all = np.array([o for _, o in pooled[0]], dtype=np.int64)
    _inplay_line(
        "overall", y_all, {q: np.array([p for p, _ in rows]) for q, rows in pooled.items()}
    )


def _inplay_line(
    label: str, y: NDArray[np.int64], by_quarter: dict[int, NDArray[np.float64]]
) -> None:
    print(
        f"{label:<8} {len(y):>5}  {log_loss(by_quarter[0], y):>7.4f} "
        + " ".join(f"{log_loss(by_quarter[q], y):>7.4f}" for q in QUARTERS)
        + "  "
        + " ".join(f"{calibration_error(by_quarter[q], y):>7.4f}" for q in QUARTERS)
    )


def _line(label: str, rows: list[Scored], p: NDArray[np.float64], extra: str) -> None:
    y = _wins(rows)
    ml = np.array([s.features.market_home for s in rows])
    print(
        f"{label:<8} {len(rows):>5} {extra}  {log_loss(p, y):>7.5f} {log_loss(ml, y):>7.5f}  "
        f"{brier(p, y):>7.4f} {brier(ml, y):>7.4f}  {accuracy(p, y):>7.4f} {accuracy(ml, y):>7.4f}"
        f"  {calibration_error(p, y):>7.4f} {calibration_error(ml, y):>7.4f}"
    )


def _wins(rows: list[Scored]) -> NDArray[np.int64]:
    return np.array([s.home_won for s in rows], dtype=np.int64)


def _quarters(row: dict[str, str], side: str) -> tuple[int, int, int, int]:
    q = [int(row[f"q{i}_{side}"]) for i in range(1, 5)]
    return (q[0], q[1], q[2], q[3])


def _moneyline(row: dict[str, str], game_id: str) -> tuple[NbaMoneyline | None, str | None]:
    home, away = row["moneyline_home"].strip(), row["moneyline_away"].strip()
    if not home or not away:
        return None, "no moneyline"
    line = NbaMoneyline(game_id, home, away)
    try:
        moneyline_home_probability(line)
    except (DomainError, NbaInputError) as error:
        return None, f"unusable moneyline ({getattr(error, 'code', 'invalid')})"
    return line, None


if __name__ == "__main__":
    sys.exit(main())
