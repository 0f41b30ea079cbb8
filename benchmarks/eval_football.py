"""Walk-forward evaluation of the football 1X2 model against the opening and closing markets.

For each season S from 2018-2019 to 2022-2023: train on every earlier season (the last of them
sizes and calibrates the model), forecast S at odds-open, at the closing quote and market-free
(results only), and score them with the opening and closing market on the same matches (the
protocol of `sportcast model evaluate`, commands/forecasting/evaluation.walk_forward). The CSV
rows become forecasting inputs: opening odds are known ODDS_LEAD before kick-off, closing odds
at kick-off, a result RESULT_LAG after it. A forecast at odds-open uses only what was known
then; one at the close has the closing prices as its market features.

Usage: .venv/bin/python -m benchmarks.eval_football   (data from $SPORTCAST_DATA_DIR,
default ../shared/data relative to the repository)
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from forecasting.football.evaluation import SeasonForecast, compare, walk_forward
from forecasting.football.features import ImpossibleOddsError
from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsOpened,
    ResultKnown,
)
from forecasting.football.model import FootballModelParameters
from forecasting.football.training_set import (
    TrainingRow,
    build_rows,
    closing_probabilities,
    opening_probabilities,
    outcomes,
)
from forecasting.metrics import (
    Probabilities,
    expected_calibration_error,
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


def build_features(matches: list[Match]) -> list[TrainingRow]:
    """Every input through `build_rows` (the event store's protocol): a row per fixture with
    its features at odds-open, at its closing quote and market-free."""
    events: list[ForecastInput] = [m.fixture for m in matches]
    for m in matches:
        if m.opening is not None and m.skipped_because is None:
            h, d, a = m.opening
            events.append(OddsOpened(m.fixture.fixture_id, h, d, a, m.fixture.kickoff - ODDS_LEAD))
        if m.closing is not None:
            h, d, a = m.closing
            events.append(OddsClosed(m.fixture.fixture_id, h, d, a, m.fixture.kickoff))
        if m.result is not None:
            hg, ag = m.result
            events.append(ResultKnown(m.fixture.fixture_id, hg, ag, m.fixture.kickoff + RESULT_LAG))
    return build_rows(events)


def evaluate(rows: list[TrainingRow]) -> None:
    print(f"\nparameters: {PARAMETERS}")
    seasons = walk_forward(rows, EVALUATED, PARAMETERS)
    print(
        f"{'season':<10} {'n':>5} {'kept':>10}  {'RPS open':>8} {'mkt open':>8} "
        f"{'RPS close':>9} {'mkt cls':>8} {'RPS free':>8}  {'ECE open':>8} {'ECE cls':>7} "
        f"{'ECE free':>8}"
    )
    for s in seasons:
        _print_line(s.season, s, s.rows, s.probabilities, s.at_close, s.market_free)
    scored = [r for s in seasons for r in s.rows]
    stages = {
        "at odds-open": np.concatenate([s.probabilities for s in seasons]),
        "at the closing quote": np.concatenate([_given(s.at_close) for s in seasons]),
        "market-free": np.concatenate([_given(s.market_free) for s in seasons]),
    }
    print("\noverall, paired bootstrap 95% CIs of model minus market (RPS, log loss):")
    for label, probabilities in stages.items():
        c = compare(scored, probabilities)
        print(
            f"  {label:<21} n {c.model.n}  RPS {c.model.rps:.5f} (opening {c.opening.rps:.5f}, "
            f"closing {c.closing.rps:.5f})  log loss {c.model.log_loss:.5f}  ECE "
            f"{c.model.ece:.4f}"
        )
        for name, d in (
            ("RPS - opening", c.rps_vs_opening),
            ("RPS - closing", c.rps_vs_closing),
            ("LL - opening", c.log_loss_vs_opening),
            ("LL - closing", c.log_loss_vs_closing),
        ):
            print(f"      {name:<14} {d.estimate:+.5f} [{d.low:+.5f}, {d.high:+.5f}]")


def _given(p: Probabilities | None) -> Probabilities:
    assert p is not None
    return p


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
    season: SeasonForecast,
    rows: list[TrainingRow],
    model: Probabilities,
    at_close: Probabilities | None,
    market_free: Probabilities | None,
) -> None:
    y = outcomes(rows)
    opening, closing = opening_probabilities(rows), closing_probabilities(rows)
    kept = season.corrections_kept or {}
    flags = "/".join("y" if kept.get(k) else "n" for k in ("odds-open", "closing"))
    print(
        f"{label:<10} {len(rows):>5} {flags:>10}  {ranked_probability_score(model, y):>8.5f} "
        f"{ranked_probability_score(opening, y):>8.5f} "
        f"{ranked_probability_score(_given(at_close), y):>9.5f} "
        f"{ranked_probability_score(closing, y):>8.5f} "
        f"{ranked_probability_score(_given(market_free), y):>8.5f}  "
        f"{expected_calibration_error(model, y):>8.4f} "
        f"{expected_calibration_error(_given(at_close), y):>7.4f} "
        f"{expected_calibration_error(_given(market_free), y):>8.4f}"
    )


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
