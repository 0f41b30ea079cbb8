"""Dashboard queries on the embedded engine (issue 18): p50/p95/p99 of every named dashboard
query on DuckDB over the whole replayed football dataset, with real forecasts and settlements.

Setup (timed and reported, not the measurement): the football dataset is replayed into a fresh
nats-server (4 worker processes, as `sportcast feed replay --workers 4`), a small real CatBoost
model forecasts over all of it (ForecasterService, as in `sportcast up`), and the analytics
projection builds the DuckDB file from both logs (its throughput is reported too).

Measurement: each query BENCH_QUERY_RUNS times (default 200) in rotation, with parameters drawn
from the data (fixtures that have quotes and forecasts, the model that issued them, windows
around real kick-offs). Target: p95 < 100 ms for every query. Peer, same run, same file: one
full scan of the largest table (COUNT and AVG over every odds_quotes row), the cost of a query
that no index or filter helps.

Env: SPORTCAST_DATA_DIR, BENCH_REPLAY_FROM / BENCH_REPLAY_TO (kick-off dates; default: all),
BENCH_QUERY_RUNS, BENCH_QUERY_THREADS (DuckDB threads per query, default 1 as in
SPORTCAST_ANALYTICS_QUERY_THREADS), BENCH_WORKERS (default 4), BENCH_KEEP_DB (keep the
built DuckDB file at this path), BENCH_ANALYTICS_DB (measure the queries on such a kept file,
skipping the setup).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from infra.bootstrap import analytics_service, event_store_env
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.parallel import ReplayShare, play_in_parallel, share_out
from infra.feeds.replay import Replay
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService
from infra.settings import Settings
from readmodels.analytics.engines import DuckDBEngine
from readmodels.analytics.queries import DASHBOARD_QUERIES, DAY_MS, HOUR_MS
from tests.small_models import small_football_model

TARGET_MS = 100.0


def replay(settings: Settings, url: str, workers: int) -> int:
    since, until = os.environ.get("BENCH_REPLAY_FROM"), os.environ.get("BENCH_REPLAY_TO")
    template = ReplayShare(
        settings=settings,
        nats_url=url,
        data_dir=settings.data_dir,
        source="football",
        since=date.fromisoformat(since) if since else None,
        until=date.fromisoformat(until) if until else None,
        player_source="replay-football",
    )
    sizes = Replay(template.data_dir, since=template.since, until=template.until).groups("football")
    report, _ = play_in_parallel(template, share_out(sizes, workers))
    print(f"setup_replay_seconds {report.seconds:.1f} s")
    return report.events_stored


def forecast(settings: Settings, url: str) -> None:
    env = event_store_env(settings, url)
    service = ForecasterService(
        env, settings.forecaster_stream, LoadedModel.from_bytes(small_football_model())
    )
    head = service.feeds.recorder.max_notification_id() or 0
    started = time.perf_counter()
    service.start()
    while service.position < head:
        if service.failure is not None:
            raise RuntimeError(service.failure.describe())
        time.sleep(0.5)
    service.stop()
    print(f"setup_forecaster_seconds {time.perf_counter() - started:.1f} s")


def project(settings: Settings, url: str, path: Path) -> None:
    service = analytics_service(settings, url, path=path)
    try:
        started = time.perf_counter()
        applied = service.runner.catch_up()
        seconds = time.perf_counter() - started
        print(f"analytics_projection_events {applied} events")
        print(f"analytics_projection_throughput {applied / seconds:.0f} events/s")
        for table in ("odds_quotes", "forecasts", "forecasts_latest", "settlements"):
            print(f"rows_{table} {service.store.count(table)} rows")
    finally:
        service.close()


class Draws:
    """Parameters drawn from the data: fixtures with forecasts, their kick-offs, the model."""

    def __init__(self, con: Any, rng: random.Random) -> None:
        self.rng = rng
        self.fixtures = _column(con, "SELECT DISTINCT fixture_id FROM forecasts")
        self.kickoffs = _column(con, "SELECT kickoff_at FROM forecasts_latest")
        self.competitions = _column(con, "SELECT DISTINCT competition FROM odds_quotes")
        found = con.execute("SELECT model_id FROM forecasts LIMIT 1").fetchone()
        self.model = found[0] if found else ""

    def next(self) -> dict[str, dict[str, Any]]:
        fixture, kickoff = self.rng.choice(self.fixtures), self.rng.choice(self.kickoffs)
        model = self.model
        return {
            "forecasts_per_hour": {"since": kickoff - 7 * DAY_MS, "until": kickoff},
            "mean_edge_by_model": {"since": kickoff - 30 * DAY_MS, "until": kickoff},
            "model_vs_market_by_day": {"since": kickoff - 30 * DAY_MS, "until": kickoff},
            "odds_movement": {"fixture_id": fixture, "since": 0},
            "price_range_by_fixture": {
                "competition": self.rng.choice(self.competitions),
                "since": kickoff - 7 * DAY_MS,
                "until": kickoff,
            },
            "mean_overround_by_source": {"since": kickoff - 30 * DAY_MS, "until": kickoff},
            "live_board": {"since": kickoff - 3 * HOUR_MS, "until": kickoff + 2 * DAY_MS},
            "edge_board": {"market": "1x2", "since": kickoff - 3 * HOUR_MS},
            "forecast_history": {"fixture_id": fixture},
            "calibration": {"model_id": model, "market": "1x2"},
            "market_calibration": {"model_id": model, "market": "1x2"},
            "rps_by_competition_over_time": {"model_id": model},
            "track_record": {"model_id": model},
            "feed_freshness": {"since": 0},
        }


def _column(con: Any, sql: str) -> list[Any]:
    return [row[0] for row in con.execute(sql).fetchall()]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(path: Path, runs: int) -> None:
    from readmodels.analytics.store import AnalyticsStore

    store = AnalyticsStore(path)
    try:
        threads = int(os.environ.get("BENCH_QUERY_THREADS", "1"))
        print(f"duckdb_threads_per_query {threads} threads")
        engine = DuckDBEngine(store.reader, threads=threads)
        con = store.reader()
        draws = Draws(con, random.Random(18))
        timings: dict[str, list[float]] = {q.name: [] for q in DASHBOARD_QUERIES}
        for query in DASHBOARD_QUERIES:  # warm: first touch of each column
            engine.run(query, draws.next()[query.name])
        print(f"load_average_before_queries {os.getloadavg()[0]:.2f}")
        for _ in range(runs):
            params = draws.next()
            for query in DASHBOARD_QUERIES:
                started = time.perf_counter()
                engine.run(query, params[query.name])
                timings[query.name].append((time.perf_counter() - started) * 1000)
        scans = []
        for _ in range(max(20, runs // 10)):
            started = time.perf_counter()
            con.execute("SELECT COUNT(*), AVG(decimal_price) FROM odds_quotes").fetchall()
            scans.append((time.perf_counter() - started) * 1000)
        print(f"load_average_after_queries {os.getloadavg()[0]:.2f}")
        worst = 0.0
        for name, values in timings.items():
            p95 = percentile(values, 95)
            worst = max(worst, p95)
            print(f"query_{name}_p50 {statistics.median(values):.2f} ms")
            print(f"query_{name}_p95 {p95:.2f} ms")
            print(f"query_{name}_p99 {percentile(values, 99):.2f} ms")
        scan_p95 = percentile(scans, 95)
        print(f"peer_full_scan_odds_quotes_p95 {scan_p95:.2f} ms")
        print(f"dashboard_worst_p95 {worst:.2f} ms")
        print(f"dashboard_worst_p95_vs_full_scan {worst / scan_p95:.2f} x")
        print(f"dashboard_worst_p95_vs_target {worst / TARGET_MS:.3f} x")
        print(f"target_met {'yes' if worst < TARGET_MS else 'NO'} (p95 < {TARGET_MS:.0f} ms)")
    finally:
        store.close()


def main() -> None:
    runs = int(os.environ.get("BENCH_QUERY_RUNS", "200"))
    existing = os.environ.get("BENCH_ANALYTICS_DB")
    if existing:  # only the measurement, on a file an earlier run kept (BENCH_KEEP_DB)
        print("peer: one full scan of odds_quotes (COUNT, AVG) on the same DuckDB file, same run")
        measure(Path(existing), runs)
        return
    workers = int(os.environ.get("BENCH_WORKERS", "4"))
    print("peer: one full scan of odds_quotes (COUNT, AVG) on the same DuckDB file, same run")
    print(f"load_average_before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedNats(
            NatsConfig(store_dir=Path(tmp), port=free_port(), monitor_port=free_port())
        )
        server.start()
        try:
            settings = Settings(state_dir=Path(tmp))
            stored = replay(settings, server.url, workers)
            print(f"setup_feed_events {stored} events")
            forecast(settings, server.url)
            path = Path(os.environ.get("BENCH_KEEP_DB", Path(tmp) / "analytics.duckdb"))
            path.unlink(missing_ok=True)
            project(settings, server.url, path)
            print(f"duckdb_file_size {path.stat().st_size / 1e6:.1f} MB")
            measure(path, runs)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
