"""Calibration candidates for the World Cup models, selected on earlier tournaments only.

ADR 0013 (session 10). Every candidate is run walk-forward by tournament: each World Cup is
forecast from what the World Cups before it give. A candidate is chosen only on the World Cups
of 1970-2001 (the selection window): it must have a lower log loss there than what is deployed,
and an ECE no worse. The 2002-2018 figures (the evaluated window of ADR 0013) are printed
beside them for the record, and take no part in the choice.

1. The market-free pre-match prior (Elo, carry-over 0.7, host advantage 100, then a logit scale
   and draw peak fitted on the earlier matches, `fit_elo_prior`). Candidates:
   - the host advantage fitted with the scale and peak on the earlier matches (0-200 Elo);
   - scale and peak fitted with time-decayed weights (half-life in years), or on the last
     years only (a window): draw rates and score gaps change between eras;
   - scale and peak fitted per pool (men's, women's) once the pool has enough earlier matches,
     with or without decay.
2. The in-play model at minutes 0, 15, ..., 85 (eval_inplay's walk-forward: fitted on the
   earlier matches but their latest fifth, sized and temperature-calibrated on that fifth,
   refitted on both). Candidates:
   - a temperature per minute, per three minute buckets or per half, fitted on that fifth,
     alone or with a draw offset (vector scaling with a draw bias);
   - the temperature fitted on out-of-fold forecasts of every earlier match instead (five
     folds of earlier tournaments, the refit's tree count; cross-validated calibration as
     scikit-learn's CalibratedClassifierCV does), once for all minutes, per minute or per half.

Usage: .venv/bin/python -m benchmarks.select_wc_calibration [--prior-only | --inplay-only]
(data from $SPORTCAST_DATA_DIR, default ../shared/data relative to the repository)
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks.eval_inplay import PARAMETERS, _world_cup_history
from forecasting.football.evaluation import paired_bootstrap
from forecasting.inplay.model import (
    _ON_BASELINE,
    HOST_ADVANTAGE,
    SAMPLED_MINUTES,
    feature_matrix,
    fit_elo_prior,
    one_x_two,
    state_at,
)
from forecasting.metrics import (
    Probabilities,
    expected_calibration_error,
    log_loss,
    per_match_log_loss,
)
from forecasting.prior_boost import TemperatureCalibration, _classifier, softmax

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ("1970-01-01", "2001-12-31")
EVALUATED = ("2002-01-01", "2018-12-31")
HOSTS = (0.0, 25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 200.0)
FOLDS = 5
Index = NDArray[np.int64]
Fit = Callable[[Index, Index], Probabilities]  # (earlier, test) -> the test's 1X2


class History:
    """The World Cup matches in date order with their Elo expected scores under each host
    advantage of HOSTS, and what a candidate needs to know of each match."""

    def __init__(self, folder: Path) -> None:
        self.expected: dict[float, NDArray[np.float64]] = {}
        for host in HOSTS:
            matches, timelines, expected, outcomes = _world_cup_history(folder, host)
            self.expected[host] = np.array(expected)
        self.matches, self.timelines, self.outcomes = matches, timelines, outcomes
        self.year = np.array(
            [int(m["match_date"][:4]) + int(m["match_date"][5:7]) / 12 for m in matches]
        )
        self.women = np.array(["Women" in m["tournament_name"] for m in matches])

    def tournaments(self, window: tuple[str, str]) -> list[tuple[Index, Index]]:
        """(earlier matches, the tournament's matches) of each tournament starting in
        `window`, in order."""
        names = sorted(
            {
                (m["match_date"], m["tournament_name"])
                for m in self.matches
                if window[0] <= m["match_date"] <= window[1]
            }
        )
        out = []
        for name in dict.fromkeys(n for _, n in names):
            first = min(m["match_date"] for m in self.matches if m["tournament_name"] == name)
            earlier = [i for i, m in enumerate(self.matches) if m["match_date"] < first]
            test = [i for i, m in enumerate(self.matches) if m["tournament_name"] == name]
            out.append((np.array(earlier, dtype=np.int64), np.array(test, dtype=np.int64)))
        return out


def _one_x_two(expected: NDArray[np.float64], scale: float, peak: float) -> Probabilities:
    return np.array([one_x_two(float(e), peak, scale) for e in expected])


# -- 1. the pre-match prior ---------------------------------------------------------------


def prior_candidates(h: History) -> dict[str, Fit]:
    y = h.outcomes

    def fixed(host: float) -> Fit:
        e = h.expected[host]

        def fit(earlier: Index, test: Index) -> Probabilities:
            return _one_x_two(e[test], *fit_elo_prior(e[earlier].tolist(), y[earlier]))

        return fit

    def joint(earlier: Index, test: Index) -> Probabilities:
        best = (math.inf, HOST_ADVANTAGE, 1.0, 0.27)
        for host in HOSTS:
            e = h.expected[host]
            scale, peak = fit_elo_prior(e[earlier].tolist(), y[earlier])
            loss = log_loss(_one_x_two(e[earlier], scale, peak), y[earlier])
            if loss < best[0]:
                best = (loss, host, scale, peak)
        _, host, scale, peak = best
        return _one_x_two(h.expected[host][test], scale, peak)

    def chosen(pick: Callable[[Index, Index], Index], half_life: float | None = None) -> Fit:
        """Scale and peak fitted on the earlier matches `pick` keeps, decayed if asked."""
        e = h.expected[HOST_ADVANTAGE]

        def fit(earlier: Index, test: Index) -> Probabilities:
            kept = pick(earlier, test)
            weights = None
            if half_life is not None:
                weights = 0.5 ** ((h.year[test].min() - h.year[kept]) / half_life)
            return _one_x_two(e[test], *fit_elo_prior(e[kept].tolist(), y[kept], weights))

        return fit

    def everything(earlier: Index, test: Index) -> Index:
        return earlier

    def last(years: float) -> Callable[[Index, Index], Index]:
        return lambda earlier, test: earlier[h.year[earlier] >= h.year[test].min() - years]

    def own_pool(least: int) -> Callable[[Index, Index], Index]:
        def pick(earlier: Index, test: Index) -> Index:
            own = earlier[h.women[earlier] == h.women[test[0]]]
            return own if len(own) >= least else earlier

        return pick

    candidates: dict[str, Fit] = {"deployed (host 100)": fixed(HOST_ADVANTAGE)}
    candidates["host 0"] = fixed(0.0)
    candidates["host fitted with scale and peak"] = joint
    for half_life in (8, 12, 16, 24, 32):
        candidates[f"decay, half-life {half_life} y"] = chosen(everything, half_life)
    for years in (12, 20, 30):
        candidates[f"last {years} y only"] = chosen(last(years))
    for least in (50, 100):
        candidates[f"per pool (>= {least} matches)"] = chosen(own_pool(least))
    for half_life in (12, 24):
        candidates[f"per pool (>= 50), half-life {half_life} y"] = chosen(own_pool(50), half_life)
    return candidates


def select_prior(h: History) -> None:
    print("\n1. World Cup market-free prior, walk-forward by tournament")
    print(
        f"{'candidate':<38} {'n':>4} {'sel LL':>7} {'sel ECE':>7}   {'n':>4} {'eval LL':>7} "
        f"{'eval ECE':>8}"
    )
    for name, fit in prior_candidates(h).items():
        cells = []
        for window in (SELECTION, EVALUATED):
            parts = h.tournaments(window)
            p = np.vstack([fit(earlier, test) for earlier, test in parts])
            y = np.concatenate([h.outcomes[test] for _, test in parts])
            cells.append(
                f"{len(y):>4} {log_loss(p, y):>7.4f} {expected_calibration_error(p, y):>7.4f}"
            )
        print(f"{name:<38} {cells[0]}   {cells[1]} ", flush=True)


# -- 2. the in-play model -----------------------------------------------------------------

BUCKETS: dict[str, tuple[tuple[int, ...], ...]] = {
    "per minute": tuple((m,) for m in SAMPLED_MINUTES),
    "3 buckets": ((0, 15, 30), (45, 60), (75, 85)),
    "per half": ((0, 15, 30, 45), (60, 75, 85)),
}
_LOG_T = np.linspace(math.log(0.5), math.log(2.0), 41)
_DRAW = np.linspace(-0.5, 0.5, 41)


def _draw_scaled(p: Probabilities, temperature: float, draw: float) -> Probabilities:
    logits = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logits[:, 1] += draw
    return softmax(logits)


def _fit_draw_scaling(p: Probabilities, y: NDArray[np.int64]) -> tuple[float, float]:
    """Temperature and draw offset with the lowest log loss (a grid)."""
    best = (math.inf, 1.0, 0.0)
    for log_t in _LOG_T:
        for draw in _DRAW:
            loss = log_loss(_draw_scaled(p, math.exp(log_t), draw), y)
            if loss < best[0]:
                best = (loss, math.exp(log_t), float(draw))
    return best[1], best[2]


def _by_bucket(
    raw: Probabilities,
    minutes: NDArray[np.int64],
    fitted: Probabilities,
    fitted_y: NDArray[np.int64],
    fitted_minutes: NDArray[np.int64],
    buckets: Sequence[tuple[int, ...]],
    draw: bool,
) -> Probabilities:
    """`raw` recalibrated per bucket of minutes on (`fitted`, `fitted_y`)."""
    out = raw.copy()
    for bucket in buckets:
        at, fit_at = np.isin(minutes, bucket), np.isin(fitted_minutes, bucket)
        if draw:
            out[at] = _draw_scaled(raw[at], *_fit_draw_scaling(fitted[fit_at], fitted_y[fit_at]))
        else:
            out[at] = TemperatureCalibration.fit(fitted[fit_at], fitted_y[fit_at]).apply(raw[at])
    return out


def inplay_tournament(
    h: History, earlier: Index, test: Index
) -> tuple[dict[str, Probabilities], NDArray[np.int64], NDArray[np.int64]]:
    """Every candidate's forecasts of the tournament's states, their outcomes and minutes."""
    e = h.expected[HOST_ADVANTAGE]
    scale, peak = fit_elo_prior(e[earlier].tolist(), h.outcomes[earlier])

    def states(index: Index) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
        rows = [
            state_at(
                h.timelines[h.matches[i]["match_id"]], minute, one_x_two(float(e[i]), peak, scale)
            )
            for i in index
            for minute in SAMPLED_MINUTES
        ]
        y = np.repeat(h.outcomes[index], len(SAMPLED_MINUTES)).astype(np.int64)
        return feature_matrix(rows), y, np.array([s.minute for s in rows], dtype=np.int64)

    cut = len(earlier) - round(0.2 * len(earlier))
    x_fit, y_fit, _ = states(earlier[:cut])
    x_size, y_size, m_size = states(earlier[cut:])
    x_test, y_test, m_test = states(test)
    final, calibration, trees, sized = _ON_BASELINE.fit_validated(
        x_fit, y_fit, x_size, y_size, PARAMETERS
    )
    raw = _ON_BASELINE.predict_uncalibrated(final, x_test)
    deployed = calibration.apply(raw)
    out = {"deployed (one T, latest fifth)": deployed}
    for draw in (False, True):
        for bucket, minutes in BUCKETS.items():
            name = f"{'T + draw offset' if draw else 'T'} {bucket}, latest fifth"
            out[name] = _by_bucket(deployed, m_test, sized, y_size, m_size, minutes, draw)
    oof, y_all, m_all = _out_of_fold(h, earlier, states, trees)
    out["cross-fitted T"] = TemperatureCalibration.fit(oof, y_all).apply(raw)
    for bucket in ("per minute", "per half"):
        out[f"cross-fitted T {bucket}"] = _by_bucket(
            raw, m_test, oof, y_all, m_all, BUCKETS[bucket], False
        )
    return out, y_test, m_test


def _out_of_fold(
    h: History,
    earlier: Index,
    states: Callable[[Index], tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]],
    trees: int,
) -> tuple[Probabilities, NDArray[np.int64], NDArray[np.int64]]:
    """Uncalibrated forecasts of every earlier state by a model (`trees` trees) fitted on the
    other folds; folds are earlier tournaments dealt in turn. A fold whose complement lacks an
    outcome (the 1930s) gets the Poisson baseline, which no booster could correct."""
    names = list(dict.fromkeys(h.matches[i]["tournament_name"] for i in earlier))
    fold = {name: k % FOLDS for k, name in enumerate(names)}
    x, y, minutes = states(earlier)
    group = np.repeat(
        [fold[h.matches[i]["tournament_name"]] for i in earlier], len(SAMPLED_MINUTES)
    )
    oof = np.zeros((len(y), 3))
    for k in range(FOLDS):
        train, held = group != k, group == k
        if len(np.unique(y[train])) < 3:
            oof[held] = softmax(_ON_BASELINE._prior_logits(x[held]))
            continue
        booster = _classifier(PARAMETERS, trees)
        booster.fit(_ON_BASELINE._pool(x[train], y[train]))
        oof[held] = _ON_BASELINE.predict_uncalibrated(booster, x[held])
    return oof, y, minutes


def select_inplay(h: History) -> None:
    print("\n2. World Cup in-play model, walk-forward by tournament: log loss and ECE per minute")
    for label, window in (("selection", SELECTION), ("evaluated", EVALUATED)):
        started = time.perf_counter()
        forecasts: dict[str, list[Probabilities]] = defaultdict(list)
        ys: list[NDArray[np.int64]] = []
        minutes: list[NDArray[np.int64]] = []
        per_tournament: list[float] = []
        for earlier, test in h.tournaments(window):
            candidates, y, m = inplay_tournament(h, earlier, test)
            for name, p in candidates.items():
                forecasts[name].append(p)
            ys.append(y)
            minutes.append(m)
            per_tournament.append(
                log_loss(candidates["cross-fitted T"], y)
                - log_loss(candidates["deployed (one T, latest fifth)"], y)
            )
        y_all, m_all = np.concatenate(ys), np.concatenate(minutes)
        print(f"\n{label} {window[0][:4]}-{window[1][:4]} ({time.perf_counter() - started:.0f} s)")
        _inplay_table({n: np.vstack(p) for n, p in forecasts.items()}, y_all, m_all)
        cross = np.vstack(forecasts["cross-fitted T"])
        deployed = np.vstack(forecasts["deployed (one T, latest fifth)"])
        by_match = (per_match_log_loss(cross, y_all) - per_match_log_loss(deployed, y_all)).reshape(
            -1, len(SAMPLED_MINUTES)
        )
        d = paired_bootstrap(by_match.mean(axis=1), np.zeros(len(by_match)))
        print(
            f"  cross-fitted T minus deployed, log loss per state (matches resampled): "
            f"{d.estimate:+.4f} [{d.low:+.4f}, {d.high:+.4f}]; per tournament: "
            + " ".join(f"{v:+.4f}" for v in per_tournament)
        )


def _inplay_table(
    forecasts: Mapping[str, Probabilities], y: NDArray[np.int64], minutes: NDArray[np.int64]
) -> None:
    print(
        f"{'candidate':<34} {'LL all':>6} {'ECE all':>7} | "
        + " ".join(f"{'E' + str(m):>6}" for m in SAMPLED_MINUTES)
        + f" {'E max':>6}"
    )
    for name, p in forecasts.items():
        per = [
            expected_calibration_error(p[minutes == m], y[minutes == m]) for m in SAMPLED_MINUTES
        ]
        print(
            f"{name:<34} {log_loss(p, y):>6.4f} {expected_calibration_error(p, y):>7.4f} | "
            + " ".join(f"{v:>6.4f}" for v in per)
            + f" {max(per):>6.4f}",
            flush=True,
        )


def main() -> int:
    data_dir = Path(os.environ.get("SPORTCAST_DATA_DIR", ROOT.parent / "shared" / "data"))
    started = time.perf_counter()
    h = History(data_dir / "worldcup")
    if "--inplay-only" not in sys.argv[1:]:
        select_prior(h)
    if "--prior-only" not in sys.argv[1:]:
        select_inplay(h)
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
