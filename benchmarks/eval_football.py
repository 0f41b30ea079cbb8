"""Walk-forward evaluation of the football 1X2 model against the opening and closing markets.

For each season S from 2018-2019 to 2022-2023: train on every earlier season (the last of them
sizes and calibrates the model), forecast S at odds-open, and score model, opening market and
closing market on the same matches. The CSV rows become forecasting inputs in event-time order:
opening odds are known ODDS_LEAD before kick-off, closing odds at kick-off (they only inform
later fixtures' features), a result RESULT_LAG after it. A forecast is
built the moment a fixture's odds open, so results that arrive between odds-open and kick-off are
not used (the opening market could not have known them either).

Usage: .venv/bin/python -m benchmarks.eval_football   (data from $SPORTCAST_DATA_DIR,
default ../shared/data relative to the repository)
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from forecasting.football.features import (
    FeatureBuilder,
    FootballFeatures,
    ImpossibleOddsError,
    event_order,
)
from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsOpened,
    ResultKnown,
)
from forecasting.football.model import FootballModelParameters, train_football_model
from forecasting.metrics import (
    Outcomes,
    Probabilities,
    accuracy,
    brier_score,
    expected_calibration_error,
    log_loss,
    ranked_probability_score,
)

ROOT = Path(__file__).resolve().parents[1]
LOCAL_TIME = ZoneInfo("Europe/Paris")  # the CSVs give kick-off in Central European time
ODDS_LEAD = timedelta(days=3)
RESULT_LAG = timedelta(hours=2)
EVALUATED = ("2018-2019", "2019-2020", "2020-2021", "2021-2022", "2022-2023")
PARAMETERS = FootballModelParameters(thread_count=2)


@dataclass(frozen=True)
class Match:
    fixture: FixtureAnnounced
    opening: tuple[float, float, float] | None
    closing: tuple[float, float, float] | None
    result: tuple[int, int] | None
    skipped_because: str | None  # why the match cannot be scored, if it cannot


@dataclass(frozen=True)
class Scored:
    """One forecastable match: features at odds-open, market references and the outcome."""

    fixture: FixtureAnnounced
    features: FootballFeatures
    closing: tuple[float, float, float] | None
    outcome: int


def main() -> int:
    data_dir = Path(os.environ.get("SPORTCAST_DATA_DIR", ROOT.parent / "shared" / "data"))
    started = time.perf_counter()
    matches = read_matches(data_dir / "football")
    scored = build_features(matches)
    print(f"matches read: {len(matches)}, forecastable at odds-open: {len(scored)}")
    print(f"feature pass: {time.perf_counter() - started:.1f} s")
    report_skips(matches)
    evaluate(scored)
    print(f"total run time: {time.perf_counter() - started:.1f} s")
    return 0


def read_matches(folder: Path) -> list[Match]:
    matches: list[Match] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                kickoff = datetime.strptime(row["Date"], "%Y-%m-%d %H:%M:%S")
                kickoff = kickoff.replace(tzinfo=LOCAL_TIME)
                competition = f"{row['country']}/{row['league']}"
                # Play-offs repeat pairings within a season: date and teams identify a fixture.
                fixture_id = f"{competition}/{row['Date']}/{row['HomeTeam']}/{row['AwayTeam']}"
                if fixture_id in seen:
                    raise SystemExit(f"duplicate fixture {fixture_id} in {path.name}")
                seen.add(fixture_id)
                fixture = FixtureAnnounced(
                    fixture_id=fixture_id,
                    competition=competition,
                    season=row["Season"],
                    home=row["HomeTeam"],
                    away=row["AwayTeam"],
                    kickoff=kickoff,
                )
                opening, opening_problem = _prices(row, "open")
                closing, _ = _prices(row, "close")
                result = _result(row)
                skip = "no result" if result is None else opening_problem
                matches.append(Match(fixture, opening, closing, result, skip))
    matches.sort(key=lambda m: (m.fixture.kickoff, m.fixture.fixture_id))
    return matches


def build_features(matches: list[Match]) -> list[Scored]:
    """Stream every input through one builder; snapshot a fixture's features when its odds open."""
    events: list[ForecastInput] = []
    for m in matches:
        if m.opening is not None and m.skipped_because is None:
            h, d, a = m.opening
            events.append(OddsOpened(m.fixture.fixture_id, h, d, a, m.fixture.kickoff - ODDS_LEAD))
        if m.closing is not None:
            # Known at its own kick-off: it feeds later fixtures' features, never its own.
            h, d, a = m.closing
            events.append(OddsClosed(m.fixture.fixture_id, h, d, a, m.fixture.kickoff))
        if m.result is not None:
            hg, ag = m.result
            events.append(ResultKnown(m.fixture.fixture_id, hg, ag, m.fixture.kickoff + RESULT_LAG))
    timed = sorted((e for e in events if not isinstance(e, FixtureAnnounced)), key=event_order)
    builder = FeatureBuilder()
    for m in matches:  # fixture lists are published before any of their odds or results
        builder.apply(m.fixture)
    by_id = {m.fixture.fixture_id: m for m in matches}
    scored: list[Scored] = []
    for event in timed:
        builder.apply(event)
        if isinstance(event, OddsOpened):
            m = by_id[event.fixture_id]
            assert m.result is not None  # odds are only emitted for scorable matches
            hg, ag = m.result
            outcome = 0 if hg > ag else 1 if hg == ag else 2
            features = builder.features(event.fixture_id)
            scored.append(Scored(m.fixture, features, m.closing, outcome))
    return scored


def evaluate(scored: list[Scored]) -> None:
    by_season: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        by_season[s.fixture.season].append(s)
    seasons = sorted(by_season)
    print(f"\nparameters: {PARAMETERS}")
    header = (
        f"{'season':<10} {'n':>5} {'train':>6} {'trees':>5} {'T':>5} {'fit s':>6}  "
        f"{'RPS mdl':>8} {'RPS open':>8} {'RPS cls':>8}  {'LL mdl':>7} {'LL open':>7} "
        f"{'Brier':>6} {'acc':>6} {'ECE mdl':>7} {'ECE open':>8}"
    )
    print(header)
    all_model: list[Probabilities] = []
    all_rows: list[Scored] = []
    for season in EVALUATED:
        prior = [s for s in seasons if s < season]
        if len(prior) < 2:
            raise SystemExit(f"season {season} needs two earlier seasons to train and calibrate")
        training = [s for p in prior[:-1] for s in by_season[p]]
        holdout = by_season[prior[-1]]
        # Score only matches that also have a valid closing price, so all three use the same set.
        test = [s for s in by_season[season] if s.closing is not None]
        fit_started = time.perf_counter()
        model = train_football_model(
            [s.features for s in training],
            _outcomes(training),
            [s.features for s in holdout],
            _outcomes(holdout),
            PARAMETERS,
        )
        fit_seconds = time.perf_counter() - fit_started
        predicted = model.predict_proba([s.features for s in test])
        all_model.append(predicted)
        all_rows.extend(test)
        _print_line(
            season,
            test,
            predicted,
            len(training) + len(holdout),
            model.trees,
            model.calibration.temperature,
            fit_seconds,
        )
    _print_line("overall", all_rows, np.concatenate(all_model), 0, 0, 0.0, 0.0)
    _print_per_league(all_rows, np.concatenate(all_model))


def report_skips(matches: list[Match]) -> None:
    evaluated = [m for m in matches if m.fixture.season in EVALUATED]
    for label, subset in (("all seasons", matches), ("evaluated seasons", evaluated)):
        reasons = Counter(m.skipped_because for m in subset if m.skipped_because is not None)
        no_close = sum(1 for m in subset if m.skipped_because is None and m.closing is None)
        print(
            f"skipped ({label}): "
            + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
            + f"; valid opening but no valid closing price (not scored): {no_close}"
        )


def _print_line(
    label: str,
    rows: list[Scored],
    model: Probabilities,
    train_size: int,
    trees: int,
    temperature: float,
    fit_seconds: float,
) -> None:
    y = _outcomes(rows)
    opening = np.array([s.features.market_probabilities() for s in rows])
    closing = np.array([_margin_free(s.closing) for s in rows if s.closing is not None])
    print(
        f"{label:<10} {len(rows):>5} {train_size:>6} {trees:>5} {temperature:>5.3f} "
        f"{fit_seconds:>6.1f}  {ranked_probability_score(model, y):>8.5f} "
        f"{ranked_probability_score(opening, y):>8.5f} {ranked_probability_score(closing, y):>8.5f}"
        f"  {log_loss(model, y):>7.4f} {log_loss(opening, y):>7.4f} "
        f"{brier_score(model, y):>6.4f} {accuracy(model, y):>6.3f} "
        f"{expected_calibration_error(model, y):>7.4f} "
        f"{expected_calibration_error(opening, y):>8.4f}"
    )


def _print_per_league(rows: list[Scored], model: Probabilities) -> None:
    print(
        f"\n{'league (evaluated seasons)':<34} {'n':>5}  {'RPS mdl':>8} {'RPS open':>8} "
        f"{'RPS cls':>8}  {'LL mdl':>7} {'Brier':>6} {'acc':>6} {'ECE':>6}"
    )
    leagues = sorted({s.fixture.competition for s in rows})
    for league in leagues:
        index = np.array([i for i, s in enumerate(rows) if s.fixture.competition == league])
        subset = [rows[i] for i in index]
        y = _outcomes(subset)
        p = model[index]
        opening = np.array([s.features.market_probabilities() for s in subset])
        closing = np.array([_margin_free(s.closing) for s in subset if s.closing is not None])
        print(
            f"{league:<34} {len(subset):>5}  {ranked_probability_score(p, y):>8.5f} "
            f"{ranked_probability_score(opening, y):>8.5f} "
            f"{ranked_probability_score(closing, y):>8.5f}  {log_loss(p, y):>7.4f} "
            f"{brier_score(p, y):>6.4f} {accuracy(p, y):>6.3f} "
            f"{expected_calibration_error(p, y):>6.4f}"
        )


def _outcomes(rows: list[Scored]) -> Outcomes:
    return np.array([s.outcome for s in rows], dtype=np.int64)


def _prices(row: dict[str, str], when: str) -> tuple[tuple[float, float, float] | None, str | None]:
    """The 1X2 prices, or None and why they cannot be used."""
    try:
        prices = (
            float(row[f"home_{when}"]),
            float(row[f"draw_{when}"]),
            float(row[f"away_{when}"]),
        )
    except ValueError:
        return None, f"missing {when} odds"
    try:
        _margin_free(prices)
    except ImpossibleOddsError:
        return None, f"impossible {when} odds (implied sum < 1)"
    return prices, None


def _margin_free(prices: tuple[float, float, float]) -> tuple[float, float, float]:
    if min(prices) <= 1.0 or sum(1.0 / p for p in prices) < 1.0:
        raise ImpossibleOddsError(f"impossible prices {prices}")
    implied = [1.0 / p for p in prices]
    total = sum(implied)
    return (implied[0] / total, implied[1] / total, implied[2] / total)


def _result(row: dict[str, str]) -> tuple[int, int] | None:
    try:
        return int(row["FTHG"]), int(row["FTAG"])
    except ValueError:
        return None


if __name__ == "__main__":
    sys.exit(main())
