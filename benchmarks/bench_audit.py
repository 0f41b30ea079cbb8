"""`sportcast audit verify` throughput: chain verification and forecasts re-derived per second.

Set-up (untimed): a fresh embedded nats-server; football from BENCH_FROM (default 2016-07-01) to
BENCH_TO (2018-06-30) replayed into it; a forecaster with a real model trained on the seasons
before 2015-16 (the forecaster-lag benchmark's) works through it; every stream is sealed with a
signed checkpoint.

Measured, each as the audit CLI does it (rates per wall second, and per CPU second of this
process, which a machine shared with other work disturbs less):
- read: every message of the events stream through Direct Get pages (messages/s);
- chain verification alone on those messages in memory (events/s; target >= 200,000), and as
  the floor peer in the same run, sha256 over the same payload bytes with nothing else;
- re-derivation of every recorded forecast from its features and the artifact (forecasts/s;
  target >= 10,000), and as the peer, one model call per forecast (the obvious implementation)
  on the first BENCH_NAIVE (default 500) forecasts.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.bench_forecaster_lag import model_bytes
from infra.audit.checkpointer import Checkpointer
from infra.audit.log import pages
from infra.audit.rederive import fetch_artifacts, recorded_forecasts, rederive
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.eventstore.checkpoint import SigningKey
from infra.eventstore.records import RawRecord
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import StreamVerifier
from infra.feeds.player import FeedPlayer
from infra.feeds.replay import Replay
from infra.forecasting.artifacts import archive
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService
from infra.settings import Settings

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))
SINCE = date.fromisoformat(os.environ.get("BENCH_FROM", "2016-07-01"))
UNTIL = date.fromisoformat(os.environ.get("BENCH_TO", "2018-06-30"))
NAIVE = int(os.environ.get("BENCH_NAIVE", "500"))
EVENTS, FORECASTS, MODELS = "SPORTCAST_EVENTS", "SPORTCAST_FORECASTS", "SPORTCAST_MODELS"


async def replay(url: str, settings: Settings) -> int:
    nc = await connect_nats(url)
    async with open_intake(settings, url, nc, workers=64) as intake:
        messages = Replay(DATA, since=SINCE, until=UNTIL).messages("football")
        report = await FeedPlayer(intake, source="replay-football", lanes=64).play(messages)
    await nc.close()
    return report.events_stored


def forecast_everything(url: str, settings: Settings, model: bytes) -> None:
    env = event_store_env(settings, url)
    archive(url, MODELS, [model])
    service = ForecasterService(env, FORECASTS, LoadedModel.from_bytes(model))
    head = service.feeds.recorder.max_notification_id() or 0
    service.start()
    while service.position < head:
        if service.failure is not None:
            raise RuntimeError(service.failure.describe())
        time.sleep(0.2)
    service.stop()


async def measure(url: str) -> None:
    nc = await connect_nats(url)
    sealer = Checkpointer(
        nc, [EVENTS, FORECASTS], chain_key=b"", signing=SigningKey("k1", b"k" * 32), interval=60
    )
    await sealer.seal()

    started = time.perf_counter()
    records: list[RawRecord] = []
    async for page in pages(nc, EVENTS):
        records.extend(page)
    read_s = time.perf_counter() - started
    print(f"read_messages_per_s {len(records) / read_s:.0f} messages/s")

    verifier = StreamVerifier(SubjectLayout(EVENTS), signing_keys={"k1": b"k" * 32})
    started, cpu = time.perf_counter(), time.process_time()
    verifier.add(records)
    report = verifier.report()
    verify_s, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert report.ok, report.problems[:5]
    print(f"chain_verify_events_per_s {report.events / verify_s:.0f} events/s")
    print(f"chain_verify_events_per_cpu_s {report.events / verify_cpu:.0f} events/s")
    print(f"read_and_verify_events_per_s {report.events / (read_s + verify_s):.0f} events/s")
    started = time.perf_counter()
    for r in records:
        hashlib.sha256(r.data).hexdigest()
    floor_s = time.perf_counter() - started
    print(f"sha256_only_events_per_s {len(records) / floor_s:.0f} events/s")
    print(f"chain_verify_vs_sha256_only {floor_s / verify_s:.3f} x")
    print("peer: sha256 over the same payloads and nothing else (the floor of any chain check)")

    started = time.perf_counter()
    recorded = await recorded_forecasts(nc, FORECASTS)
    print(f"forecasts_read_per_s {len(recorded) / (time.perf_counter() - started):.0f} forecasts/s")
    artifacts = await fetch_artifacts(nc, MODELS, {f.artifact_hash for f in recorded})
    started, cpu = time.perf_counter(), time.process_time()
    result = rederive(recorded, artifacts)
    batched_s, batched_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.ok, (result.mismatches or [])[:3]
    print(f"forecasts {len(recorded)} count")
    print(f"rederive_forecasts_per_s {len(recorded) / batched_s:.0f} forecasts/s")
    print(f"rederive_forecasts_per_cpu_s {len(recorded) / batched_cpu:.0f} forecasts/s")
    naive = recorded[:NAIVE]
    started = time.perf_counter()
    for f in naive:
        single = rederive([f], artifacts)
        assert single.ok
    naive_s = time.perf_counter() - started
    print(f"rederive_one_call_each_per_s {len(naive) / naive_s:.0f} forecasts/s")
    speedup = (len(recorded) / batched_s) / (len(naive) / naive_s)
    print(f"rederive_batched_vs_one_call_each {speedup:.2f} x")
    print("peer: one model call (and artifact load) per forecast, same artifacts")
    await nc.close()


def main() -> None:
    settings = Settings(stream_name=EVENTS)
    model = model_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedNats(
            NatsConfig(store_dir=Path(tmp), port=free_port(), monitor_port=free_port())
        )
        server.start()
        try:
            stored = asyncio.run(replay(server.url, settings))
            print(f"# replayed {stored} events ({SINCE}..{UNTIL}); forecasting them")
            forecast_everything(server.url, settings, model)
            asyncio.run(measure(server.url))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
