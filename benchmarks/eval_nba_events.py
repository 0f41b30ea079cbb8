"""Walk-forward evaluation of the NBA models on rows built from the event store, as live.

benchmarks/eval_nba.py builds its rows from the CSVs; this one builds them as the forecaster
and `sportcast model train-nba` do (forecasting/nba/live.py: feed events only, no
playoff flag, results of a day held back until the next day). For each of the last five
seasons S in the store: train on every earlier season, forecast S, and score model and
moneyline (margin-free, as quoted) on the same games; in-play after Q1-Q3 against the pre-game
line. The store is filled by replaying the NBA dataset with one lane (exact order) unless
EVAL_NATS_URL and EVAL_STREAM name one that already holds it.

Usage: SPORTCAST_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.eval_nba_events
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.eval_store import evaluated_feed
from forecasting.nba.inplay import QUARTERS, train_nba_inplay
from forecasting.nba.model import NbaModelParameters, train_nba_model
from forecasting.nba.model import home_brier_score as brier
from forecasting.nba.model import home_calibration_error as calibration_error
from forecasting.nba.model import home_log_loss as log_loss
from forecasting.nba.training import NbaTrainingSet, home_wins
from infra.forecasting.history import max_position
from infra.forecasting.nba_history import read_training_set

EVALUATED_SEASONS = 5
PARAMETERS = NbaModelParameters(thread_count=1)


def main() -> None:
    with evaluated_feed("NBA_EVAL", ["nba"]) as feeds:
        started = time.perf_counter()
        data = read_training_set(feeds, cutoff=max_position(feeds))
        print(f"rows from the event store in {time.perf_counter() - started:.1f} s")
    evaluate(data)


def evaluate(data: NbaTrainingSet) -> None:
    seasons = [s for s, _, _ in data.seasons]
    print(f"{data.games} games with a line in {len(seasons)} seasons")
    header = f"{'season':<8} {'n':>5} {'trees':>5}  {'LL mdl':>8} {'LL line':>8}"
    print(header + f"  {'Br mdl':>7} {'Br line':>7}  {'ECE mdl':>7} {'ECE line':>8}")
    model_p, line_p, outcomes = [], [], []
    for season in seasons[-EVALUATED_SEASONS:]:
        k = seasons.index(season)
        training = [(list(rows), home_wins(won)) for _, rows, won in data.seasons[:k]]
        _, rows, won = data.seasons[k]
        model = train_nba_model(training, PARAMETERS)
        p = model.predict_home(list(rows))
        line = np.array([r.market_home for r in rows])
        y = home_wins(won)
        model_p.append(p)
        line_p.append(line)
        outcomes.append(y)
        _line(season, len(rows), str(model.trees), p, line, y)
    _line("overall", sum(map(len, outcomes)), "", *map(np.concatenate, (model_p, line_p, outcomes)))
    print("\nin-play (pre-game = the last line before tip-off), trained on earlier seasons")
    print(
        f"{'season':<8} {'n':>6}  {'LL pre':>7} "
        + " ".join(f"{'LL Q' + str(q):>7}" for q in QUARTERS)
    )
    for season in seasons[-EVALUATED_SEASONS:]:
        train_idx = [i for i, s in enumerate(data.state_seasons) if s < season]
        test_idx = [i for i, s in enumerate(data.state_seasons) if s == season]
        inplay = train_nba_inplay(
            [data.states[i] for i in train_idx],
            home_wins(data.state_home_won[i] for i in train_idx),
        )
        losses = []
        for q in QUARTERS:
            idx = [i for i in test_idx if data.states[i].quarter == q]
            p = inplay.predict_home([data.states[i] for i in idx])
            losses.append(log_loss(p, home_wins(data.state_home_won[i] for i in idx)))
        q1 = [i for i in test_idx if data.states[i].quarter == 1]
        pre = np.array([data.states[i].pregame_home for i in q1])
        pre_loss = log_loss(pre, home_wins(data.state_home_won[i] for i in q1))
        print(
            f"{season:<8} {len(q1):>6}  {pre_loss:>7.4f} " + " ".join(f"{x:>7.4f}" for x in losses)
        )


def _line(label: str, n: int, trees: str, p: np.ndarray, line: np.ndarray, y: np.ndarray) -> None:
    print(
        f"{label:<8} {n:>5} {trees:>5}  {log_loss(p, y):>8.5f} {log_loss(line, y):>8.5f}  "
        f"{brier(p, y):>7.4f} {brier(line, y):>7.4f}  {calibration_error(p, y):>7.4f} "
        f"{calibration_error(line, y):>8.4f}"
    )


if __name__ == "__main__":
    main()
