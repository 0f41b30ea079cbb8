"""Feature rows with the whole football history: what one pre-match forecast pays before the
model call (the single-forecast target is p99 < 5 ms end to end, issue 5).

Every CSV match goes through two `FeatureBuilder`s in event order (opening odds three days
before kick-off, closing at kick-off, result two hours after it: the protocol of
benchmarks/eval_football.py), and every opening quote's `features()` call is timed on both:
- lazy (the peer, how the forecaster worked before): a quote after new results of its league
  pays the refit of the league's time-decayed Poisson strengths (goal_ratings.py);
- fit on result (the live forecaster now): the refit runs when the result is applied, so the
  result's processing pays it (timed too) and the quote finds the fit done.
Both builders see the same events alternately in the same run; their features are compared.

Usage: python -m benchmarks.bench_features   (data from $SPORTCAST_DATA_DIR)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from benchmarks.eval_football import ODDS_LEAD, RESULT_LAG, read_matches
from forecasting.football.features import FeatureBuilder, event_order
from forecasting.football.inputs import OddsClosed, OddsOpened, ResultKnown

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))


def main() -> None:
    matches = read_matches(DATA / "football")
    lazy, eager = FeatureBuilder(strict=True), FeatureBuilder(strict=True, fit_on_result=True)
    timed: list[OddsOpened | OddsClosed | ResultKnown] = []
    for m in matches:
        lazy.apply(m.fixture)
        eager.apply(m.fixture)
        if m.opening is None or m.skipped_because is not None:
            continue
        f = m.fixture
        timed.append(OddsOpened(f.fixture_id, *m.opening, f.kickoff - ODDS_LEAD))
        if m.result is not None:
            timed.append(ResultKnown(f.fixture_id, *m.result, f.kickoff + RESULT_LAG))
    timed.sort(key=event_order)
    quote_lazy: list[float] = []
    quote_eager: list[float] = []
    result_lazy: list[float] = []
    result_eager: list[float] = []
    differ = 0
    for event in timed:
        is_quote = isinstance(event, OddsOpened)
        rows = []
        for builder, at_result, at_quote in (
            (lazy, result_lazy, quote_lazy),
            (eager, result_eager, quote_eager),
        ):
            started = time.perf_counter()
            builder.apply(event)
            applied = time.perf_counter()
            if is_quote:
                rows.append(builder.features(event.fixture_id))
                at_quote.append((time.perf_counter() - applied) * 1000)
            else:
                at_result.append((applied - started) * 1000)
        differ += is_quote and rows[0] != rows[1]
    print("peer: the same calls on a builder that fits lazily (before), same run, same events")
    print(f"quotes {len(quote_lazy)} calls")
    print(f"features_differing {differ} rows")
    for name, values in (
        ("quote_features_fit_on_result", quote_eager),
        ("quote_features_lazy", quote_lazy),
        ("result_apply_fit_on_result", result_eager),
        ("result_apply_lazy", result_lazy),
    ):
        print(f"{name}_p50 {np.percentile(values, 50):.3f} ms")
        print(f"{name}_p99 {np.percentile(values, 99):.3f} ms")
        print(f"{name}_max {max(values):.3f} ms")
    ratio = np.percentile(quote_eager, 99) / np.percentile(quote_lazy, 99)
    print(f"quote_features_p99_vs_lazy {ratio:.3f} x")
    total = sum(quote_eager) + sum(result_eager)
    print(f"total_cpu_fit_on_result_vs_lazy {total / (sum(quote_lazy) + sum(result_lazy)):.2f} x")


if __name__ == "__main__":
    main()
