"""The registry's NBA and in-play football training runs on real data: what `sportcast model
train --kind nba|football-inplay` records (holdout metrics, out of sample) and how long it takes.

Replays the whole NBA dataset and the World Cups (one lane: exact order) into a fresh embedded
nats-server, unless EVAL_NATS_URL names a server whose stream EVAL_STREAM already holds them,
then trains each kind as the registry does (infra/forecasting/kinds.py) and prints its record.

    SPORTCAST_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.eval_registry_kinds
"""

from __future__ import annotations

import time

from benchmarks.eval_store import evaluated_feed
from infra.forecasting.inplay_history import InPlayKind
from infra.forecasting.kinds import Candidate, ModelKind
from infra.forecasting.nba_history import NbaKind


def main() -> None:
    with evaluated_feed("KINDS_EVAL", ["nba", "worldcup"]) as feeds:
        kinds: list[ModelKind] = [NbaKind(), InPlayKind()]
        for kind in kinds:
            started = time.perf_counter()
            candidate = kind.train(feeds)
            _show(kind.name, candidate, time.perf_counter() - started)


def _show(kind: str, candidate: Candidate, seconds: float) -> None:
    r = candidate.record
    print(f"\n{kind}: {r.model_id}, {len(candidate.artifact)} bytes, {seconds:.1f} s wall")
    print(
        f"  cut-off {r.cutoff_position}, data {r.first_kickoff:%Y-%m-%d}..{r.last_kickoff:%Y-%m-%d}"
    )
    print(f"  holdout {r.holdout_season}")
    for name, value in sorted(r.holdout_metrics.items()):
        print(f"    {name:<18} {value:.5f}")


if __name__ == "__main__":
    main()
