"""Held-out evaluation of the in-play football model.

States: every World Cup match (men's 1930-2018, women's 1991-2019) at minutes 0, 15, ..., 85
from its goal and sending-off timeline, with an Elo prior built from earlier World Cup matches
only; every league match with a valid closing 1X2 at half-time (minute 45; the data has no card
times, so red cards count as none), with the closing market's margin-free prior. The target is the
result after 90 minutes.

Split by time: train on World Cup matches before 2010 and league seasons before 2020-2021, size
and calibrate on the 2010/2011 World Cups and league 2020-2021, refit on both, and test on World
Cups from 2014 and league seasons 2021-2022 and 2022-2023.

Then every World Cup from 2002 to 2018 walk-forward by tournament (earlier World Cups only),
against the market-free pre-match prior the live forecaster gives a match nobody quotes.

Usage: .venv/bin/python -m benchmarks.eval_inplay [--walk-forward-only]   (data from
$SPORTCAST_DATA_DIR, default ../shared/data relative to the repository)
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from domain.errors import DomainError
from domain.odds.margin import proportional
from forecasting.football.evaluation import paired_bootstrap
from forecasting.inplay.model import (
    HOST_ADVANTAGE,
    SAMPLED_MINUTES,
    EloPrior,
    InPlayParameters,
    MatchState,
    TimelineEvent,
    baseline_proba,
    fit_draw_peak,
    fit_elo_prior,
    one_x_two,
    regulation_outcome,
    state_at,
    train_inplay_model,
)
from forecasting.metrics import (
    Probabilities,
    brier_score,
    expected_calibration_error,
    log_loss,
    per_match_log_loss,
)

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = InPlayParameters(thread_count=1)
WC_HOLDOUT_FROM, WC_TEST_FROM = "2010-01-01", "2014-01-01"
LEAGUE_HOLDOUT, LEAGUE_TEST = "2020-2021", ("2021-2022", "2022-2023")


@dataclass(frozen=True)
class Sample:
    source: str  # "world cup" or "league"
    split: str  # "train", "holdout" or "test"
    state: MatchState
    outcome: int


def main() -> int:
    data_dir = Path(os.environ.get("SPORTCAST_DATA_DIR", ROOT.parent / "shared" / "data"))
    started = time.perf_counter()
    if "--walk-forward-only" in sys.argv[1:]:
        walk_forward_by_tournament(data_dir / "worldcup")
        print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")
        return 0
    world_cup, draw_peak = world_cup_samples(data_dir / "worldcup")
    league = league_samples(data_dir / "football")
    samples = world_cup + league
    print(f"world cup states: {len(world_cup)}, league half-time states: {len(league)}")
    print(f"Elo prior draw peak (fitted on World Cups before 2014): {draw_peak:.3f}")
    for split in ("train", "holdout", "test"):
        counts = {
            src: sum(s.split == split and s.source == src for s in samples)
            for src in ("world cup", "league")
        }
        print(f"  {split:<8} {counts}")
    print(f"data pass: {time.perf_counter() - started:.1f} s")
    fit_started = time.perf_counter()
    train = [s for s in samples if s.split == "train"]
    holdout = [s for s in samples if s.split == "holdout"]
    model = train_inplay_model(
        [s.state for s in train],
        np.array([s.outcome for s in train], dtype=np.int64),
        [s.state for s in holdout],
        np.array([s.outcome for s in holdout], dtype=np.int64),
        PARAMETERS,
    )
    print(f"\nparameters: {PARAMETERS}")
    print(
        f"fit: {time.perf_counter() - fit_started:.1f} s, trees {model.trees}, "
        f"temperature {model.calibration.temperature:.3f}"
    )
    test = [s for s in samples if s.split == "test"]
    predicted = model.predict_proba([s.state for s in test])
    baseline = baseline_proba([s.state for s in test])
    prior = np.array([s.state.prior for s in test])
    print(
        f"\n{'test set':<10} {'minute':>6} {'n':>5}  {'LL prior':>8} {'LL pois':>8} {'LL mdl':>8}"
        f"  {'Br prior':>8} {'Br mdl':>8}  {'ECE prior':>9} {'ECE pois':>8} {'ECE mdl':>8}"
    )
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, s in enumerate(test):
        groups[(s.source, s.state.minute)].append(i)
    for (source, minute), index in sorted(groups.items()):
        _line(source, str(minute), test, index, prior, baseline, predicted)
    wc = [i for i, s in enumerate(test) if s.source == "world cup"]
    _line("world cup", "all", test, wc, prior, baseline, predicted)
    walk_forward_by_tournament(data_dir / "worldcup")
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")
    return 0


WALK_FORWARD_FROM, WALK_FORWARD_TO = "2002-01-01", "2018-12-31"
WALK_FORWARD_MINUTES = (30, 60, 75)


def walk_forward_by_tournament(folder: Path) -> None:
    """Every World Cup from 2002 to 2018 (men's and women's), forecast by a model fitted on the
    World Cups before it only (the latest fifth of those matches sizes and calibrates it), from
    the market-free pre-match prior (Elo over earlier World Cup matches, its draw peak fitted
    on the earlier matches): the in-play model against that prior, per minute."""
    matches, timelines, expected, outcomes = _world_cup_history(folder)
    tournaments = sorted(
        {
            (m["match_date"][:4], m["tournament_name"])
            for m in matches
            if WALK_FORWARD_FROM <= m["match_date"] <= WALK_FORWARD_TO
        }
    )
    print("\nWorld Cups walk-forward by tournament (trained on earlier World Cups only)")
    pooled: dict[int, list[tuple[np.ndarray, np.ndarray, int]]] = defaultdict(list)
    uncalibrated: list[tuple[tuple[float, float, float], int]] = []
    for _, name in tournaments:
        first = min(m["match_date"] for m in matches if m["tournament_name"] == name)
        earlier = [i for i, m in enumerate(matches) if m["match_date"] < first]
        test = [i for i, m in enumerate(matches) if m["tournament_name"] == name]
        raw_peak = fit_draw_peak([expected[i] for i in earlier], outcomes[earlier])
        scale, peak = fit_elo_prior([expected[i] for i in earlier], outcomes[earlier])
        cut = len(earlier) - round(0.2 * len(earlier))
        parts = {"fit": earlier[:cut], "size": earlier[cut:], "test": test}
        states: dict[str, list[MatchState]] = {}
        ys: dict[str, list[int]] = {}
        for part, index in parts.items():
            states[part] = [
                state_at(
                    timelines[matches[i]["match_id"]],
                    minute,
                    one_x_two(expected[i], peak, scale),
                )
                for i in index
                for minute in SAMPLED_MINUTES
            ]
            ys[part] = [int(outcomes[i]) for i in index for _ in SAMPLED_MINUTES]
        model = train_inplay_model(
            states["fit"],
            np.array(ys["fit"], dtype=np.int64),
            states["size"],
            np.array(ys["size"], dtype=np.int64),
            PARAMETERS,
        )
        predicted = model.predict_proba(states["test"])
        for state, p, y in zip(states["test"], predicted, ys["test"], strict=True):
            pooled[state.minute].append((np.array(state.prior), p, y))
        raw = [one_x_two(expected[i], raw_peak) for i in test]
        uncalibrated.extend(zip(raw, (int(outcomes[i]) for i in test), strict=True))
        print(
            f"  {name}: {len(test)} matches, Elo prior draw peak {peak:.3f}, logit scale "
            f"{scale:.2f}, {model.trees} trees"
        )
    print(f"{'minute':>6} {'n':>5}  {'LL prior':>8} {'LL mdl':>8}  {'ECE prior':>9} {'ECE mdl':>8}")
    everything: list[tuple[np.ndarray, np.ndarray, int]] = []
    for minute in sorted(pooled):
        rows = pooled[minute]
        everything.extend(rows)
        _pooled_line(str(minute), rows, minute in WALK_FORWARD_MINUTES)
    _pooled_line("all", everything, False)
    _prior_calibration(uncalibrated, [(r[0], r[2]) for r in pooled[min(pooled)]])


def _prior_calibration(
    raw: list[tuple[tuple[float, float, float], int]],
    calibrated: list[tuple[np.ndarray, int]],
) -> None:
    """The market-free prior per match (each once), before and after its calibration (logit
    scale and draw peak fitted on earlier World Cups), the calibrated prior's ECE with a
    bootstrap interval (matches resampled), and the ECE a perfectly calibrated forecaster gets
    on as many matches: outcomes drawn from the calibrated prior itself."""
    y = np.array([o for _, o in calibrated], dtype=np.int64)
    p = np.array([q for q, _ in calibrated])
    before = np.array([q for q, _ in raw])
    rng = np.random.default_rng(20_240_601)
    cum = p.cumsum(axis=1)
    draws = [
        expected_calibration_error(p, np.minimum((rng.random(len(y))[:, None] > cum).sum(1), 2))
        for _ in range(1000)
    ]
    print(f"\nmarket-free prior, {len(y)} matches (each once):")
    print(
        f"  Elo with the draw peak only: log loss {log_loss(before, y):.4f}, "
        f"ECE {expected_calibration_error(before, y):.4f}"
    )
    print(
        f"  calibrated (scale and peak): log loss {log_loss(p, y):.4f}, "
        f"ECE {expected_calibration_error(p, y):.4f}"
    )
    resampled = [
        expected_calibration_error(p[i], y[i])
        for i in (rng.integers(0, len(y), len(y)) for _ in range(1000))
    ]
    low, high = np.percentile(resampled, [2.5, 97.5])
    print(f"  calibrated prior's ECE, bootstrap 95% CI over matches: [{low:.4f}, {high:.4f}]")
    print(
        f"  ECE of a perfectly calibrated forecaster on {len(y)} matches: median "
        f"{np.median(draws):.4f}, 90% {np.percentile(draws, 90):.4f}, share <= 0.02 "
        f"{np.mean(np.array(draws) <= 0.02):.2f}, share >= the prior's "
        f"{np.mean(np.array(draws) >= expected_calibration_error(p, y)):.2f}"
    )


def _pooled_line(label: str, rows: list[tuple[np.ndarray, np.ndarray, int]], target: bool) -> None:
    prior = np.array([r[0] for r in rows])
    model = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows], dtype=np.int64)
    mark = ""
    if target:  # one state per match at a minute: matches resampled, paired
        d = paired_bootstrap(per_match_log_loss(model, y), per_match_log_loss(prior, y))
        mark = f"  (target: model below prior) {d.estimate:+.4f} [{d.low:+.4f}, {d.high:+.4f}]"
    print(
        f"{label:>6} {len(y):>5}  {log_loss(prior, y):>8.4f} {log_loss(model, y):>8.4f}  "
        f"{expected_calibration_error(prior, y):>9.4f} "
        f"{expected_calibration_error(model, y):>8.4f}{mark}"
    )


def _world_cup_history(
    folder: Path, host_advantage: float = HOST_ADVANTAGE
) -> tuple[list[dict[str, str]], dict[str, list[TimelineEvent]], list[float], np.ndarray]:
    """Matches in date order, their timelines, each one's Elo expected score from earlier
    matches of its pool (men's or women's) only (a host given `host_advantage`), and their
    90-minute outcomes."""
    matches = _read(folder / "matches.csv")
    timelines: dict[str, list[TimelineEvent]] = defaultdict(list)
    for goal in _read(folder / "goals.csv"):
        timelines[goal["match_id"]].append(_event("goal", goal))
    for booking in _read(folder / "bookings.csv"):
        if booking["sending_off"] == "1":
            timelines[booking["match_id"]].append(_event("sending-off", booking))
    matches.sort(key=lambda m: (m["match_date"], m["match_time"], m["match_id"]))
    elo = EloPrior(host_advantage=host_advantage)
    expected: list[float] = []
    for m in matches:  # Elo sees a match only after its expected score is taken
        edition = m["tournament_name"]  # "2018 FIFA Men's World Cup": pool and edition
        home, away = m["home_team_name"], m["away_team_name"]
        country = m["country_name"] or None  # the host plays at home (EloPrior)
        expected.append(elo.expected_score(edition, home, away, country))
        goals = int(m["home_team_score"]), int(m["away_team_score"])
        elo.update(edition, home, away, *goals, country)
    outcomes = np.array([regulation_outcome(timelines[m["match_id"]]) for m in matches])
    return matches, timelines, expected, outcomes


def world_cup_samples(folder: Path) -> tuple[list[Sample], float]:
    matches, timelines, expected, outcomes = _world_cup_history(folder)
    before = [i for i, m in enumerate(matches) if m["match_date"] < WC_TEST_FROM]
    scale, peak = fit_elo_prior([expected[i] for i in before], outcomes[before])
    samples: list[Sample] = []
    for i, m in enumerate(matches):
        split = (
            "test"
            if m["match_date"] >= WC_TEST_FROM
            else "holdout"
            if m["match_date"] >= WC_HOLDOUT_FROM
            else "train"
        )
        prior = one_x_two(expected[i], peak, scale)
        for minute in SAMPLED_MINUTES:
            state = state_at(timelines[m["match_id"]], minute, prior)
            samples.append(Sample("world cup", split, state, int(outcomes[i])))
    return samples, peak


def league_samples(folder: Path) -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(folder.glob("*.csv")):
        for row in _read(path):
            try:
                prices = [float(row[f"{side}_close"]) for side in ("home", "draw", "away")]
                prior = proportional(prices)
                hg, ag, hth, hta = (int(row[c]) for c in ("FTHG", "FTAG", "HTHG", "HTAG"))
            except (ValueError, DomainError):
                continue  # no result, no half-time score or no valid closing price
            season = row["Season"]
            split = (
                "test"
                if season in LEAGUE_TEST
                else "holdout"
                if season == LEAGUE_HOLDOUT
                else "train"
            )
            if season > LEAGUE_TEST[-1]:
                continue
            state = MatchState(45, hth, hta, 0, 0, (prior[0], prior[1], prior[2]))
            outcome = 0 if hg > ag else 1 if hg == ag else 2
            samples.append(Sample("league", split, state, outcome))
    return samples


def _line(
    source: str,
    minute: str,
    test: list[Sample],
    index: list[int],
    prior: Probabilities,
    baseline: Probabilities,
    predicted: Probabilities,
) -> None:
    y = np.array([test[i].outcome for i in index], dtype=np.int64)
    a, b, c = prior[index], baseline[index], predicted[index]
    print(
        f"{source:<10} {minute:>6} {len(index):>5}  {log_loss(a, y):>8.4f} {log_loss(b, y):>8.4f} "
        f"{log_loss(c, y):>8.4f}  {brier_score(a, y):>8.4f} {brier_score(c, y):>8.4f}  "
        f"{expected_calibration_error(a, y):>9.4f} {expected_calibration_error(b, y):>8.4f} "
        f"{expected_calibration_error(c, y):>8.4f}"
    )


def _event(kind: str, row: dict[str, str]) -> TimelineEvent:
    return TimelineEvent(
        kind="goal" if kind == "goal" else "sending-off",
        minute=int(row["minute_regulation"]),
        home=row["home_team"] == "1",
        extra_time=row["match_period"].startswith("extra time"),
    )


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


if __name__ == "__main__":
    sys.exit(main())
