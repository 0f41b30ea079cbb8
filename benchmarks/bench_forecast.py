"""Forecasting speed: model call, micro-batch scoring, one forecast end to end, retraining.

- model call: our path (features -> calibrated probabilities) for one fixture, against the peer
  CatBoost's own predict_proba on the same single row as a numpy array, same run.
- micro-batch: rows/s scoring 10,000 fixtures at once.
- single forecast: Forecaster.process_event on a real nats-server for quotes that issue a
  forecast (features built, model applied, ForecastIssued + tracking saved atomically).
- retraining: the full football history (all seasons, last one as holdout), fixed seed.

BENCH_DURABILITY=replicated runs the server without fsync on every write (docs/adr/0003).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from benchmarks import secure
from benchmarks.eval_football import build_features, read_matches
from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.forecast import FixtureForecasts
from domain.provenance import Provenance
from forecasting.football.model import (
    FootballModelParameters,
    _matrix,
    train_football_model,
)
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.replay import Replay
from infra.forecasting.model_file import LoadedModel, dump_model
from infra.forecasting.service import forecaster_env

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))
DURABILITY = os.environ.get("BENCH_DURABILITY", "fsync")  # the embedded default, or replicated
ISSUED_TOPICS = {
    get_topic(FixtureForecasts.ForecastIssued),
    get_topic(FixtureForecasts.FirstForecastIssued),
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    print("note: NATS", secure.configure(), "(BENCH_SECURE=1: TLS + NKey users)")
    matches = read_matches(DATA / "football")
    scored = build_features(matches)
    seasons = sorted({s.fixture.season for s in scored})
    train = [s for s in scored if s.fixture.season != seasons[-1]]
    hold = [s for s in scored if s.fixture.season == seasons[-1]]
    started = time.perf_counter()
    model = train_football_model(
        [s.features for s in train],
        np.array([s.outcome for s in train]),
        [s.features for s in hold],
        np.array([s.outcome for s in hold]),
        FootballModelParameters(thread_count=2),
    )
    retrain = time.perf_counter() - started
    loaded = LoadedModel.from_bytes(dump_model(model))

    rows = [s.features for s in hold[:2000]]
    ours, peer = [], []
    for row in rows:
        t = time.perf_counter()
        loaded.predict(row)
        ours.append((time.perf_counter() - t) * 1000)
        matrix = _matrix([row])
        t = time.perf_counter()
        model.booster.predict_proba(matrix)
        peer.append((time.perf_counter() - t) * 1000)

    batch = [s.features for s in (scored * 2)[:10_000]]
    t = time.perf_counter()
    model.predict_proba(batch)
    batch_rate = len(batch) / (time.perf_counter() - t)

    single = end_to_end(loaded)

    print("peer: CatBoost predict_proba on the same single row (numpy), same run")
    print(f"model_call_p50 {percentile(ours, 50):.3f} ms")
    print(f"model_call_p99 {percentile(ours, 99):.3f} ms")
    print(f"peer_catboost_call_p99 {percentile(peer, 99):.3f} ms")
    print(f"model_call_vs_peer_p99_ratio {percentile(ours, 99) / percentile(peer, 99):.2f} x")
    print(f"micro_batch_scoring {batch_rate:.0f} rows/s")
    print(f"single_forecast_p50 {percentile(single, 50):.3f} ms")
    print(f"single_forecast_p99 {percentile(single, 99):.3f} ms ({DURABILITY})")
    print(f"single_forecast_count {len(single)} forecasts")
    print(f"retraining_full_history {retrain:.1f} s")
    print(f"retraining_rows {len(train) + len(hold)} rows")
    print(f"retraining_trees {model.trees} trees")
    print(f"median_model_call {statistics.median(ours):.3f} ms")


def end_to_end(model: LoadedModel) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedNats(
            NatsConfig(
                store_dir=Path(tmp),
                port=free_port(),
                monitor_port=free_port(),
                sync_always=DURABILITY == "fsync",
                **secure.server_options(),
            )
        )
        server.start()
        try:
            env = {
                "PERSISTENCE_MODULE": "infra.eventstore",
                "NATS_URL": server.url,
                "NATS_STREAM": "BENCH_FEED",
                **secure.store_env(),
            }
            feeds = FeedIngestion(env)
            received = Provenance(source="bench", received_at=datetime.now(UTC))
            for m in Replay(DATA, since=date(2019, 8, 1), until=date(2019, 9, 30)).messages(
                "football"
            ):
                with contextlib.suppress(DomainError):
                    feeds.handle(m.build(m.key, received))
            forecaster = Forecaster(forecaster_env(env, "BENCH_FORECASTS"), model=model)
            timings: list[float] = []
            for n in feeds.recorder.select_notifications(start=1, limit=1_000_000):
                event = feeds.mapper.to_domain_event(n)
                before = forecaster.recorder.max_notification_id() or 0
                t = time.perf_counter()
                forecaster.process_event(event, Tracking(feeds.name, n.id))
                elapsed = (time.perf_counter() - t) * 1000
                if (forecaster.recorder.max_notification_id() or 0) > before:
                    issued = [
                        e
                        for e in forecaster.recorder.select_notifications(
                            start=before + 1, limit=10
                        )
                        if e.topic in ISSUED_TOPICS
                    ]
                    if issued:
                        timings.append(elapsed)
            forecaster.close()
            feeds.close()
            return timings
        finally:
            server.stop()


if __name__ == "__main__":
    main()
