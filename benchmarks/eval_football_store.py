"""`sportcast model evaluate` (lifecycle.evaluate) on the event store: a fresh embedded
nats-server the whole football dataset is replayed into (one lane), or the store named by
EVAL_NATS_URL / EVAL_STREAM (benchmarks/eval_store.py). Writes the report to EVAL_OUT (default
reports/evaluation-store/).

Usage: SPORTCAST_DATA_DIR=../shared/data .venv/bin/python -u -m benchmarks.eval_football_store
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from benchmarks.eval_store import evaluated_feed
from infra.forecasting import lifecycle


def main() -> int:
    started = time.perf_counter()
    out = Path(os.environ.get("EVAL_OUT", "reports/evaluation-store"))
    with evaluated_feed("FOOTBALL_EVAL", ["football"]) as feeds:
        print(f"store ready in {time.perf_counter() - started:.1f} s", flush=True)
        for path in asyncio.run(lifecycle.evaluate(feeds, out)):
            print(f"wrote {path}", flush=True)
    print(f"total {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
