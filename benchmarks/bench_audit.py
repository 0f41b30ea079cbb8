"""`sportcast audit verify` throughput: chain verification and forecasts re-derived per second.

Set-up (untimed): a fresh embedded nats-server; football from BENCH_FROM (default 2016-07-01) to
BENCH_TO (2018-06-30) replayed into it; a forecaster with a real model trained on the seasons
before 2015-16 (the forecaster-lag benchmark's) works through it; every stream is sealed with a
signed checkpoint.

Measured, each as the audit CLI does it (rates per wall second, and per CPU second of this
process, which a machine shared with other work disturbs less):
- chain verification alone on the events stream's messages in memory, as the wire client hands
  them to the verifier (events/s; target >= 200,000); the same verifier fed decoded records
  (the nats-py path); and as the floor peer in the same run, sha256 over the same payload
  bytes with nothing else;
- the chain check end to end as `audit verify` runs it: read from the server and verified;
- re-derivation of every recorded forecast from its features and the artifact (forecasts/s;
  target >= 10,000), and as the peer, one model call per forecast (the obvious implementation)
  on the first BENCH_NAIVE (default 500) forecasts.

BENCH_STORE=DIR keeps the set-up's store in DIR and, when DIR already holds a finished one,
measures it again without the set-up (the store only gains a checkpoint per run).
BENCH_ONLY=chain measures the chain check only. The end-to-end chain check runs BENCH_PAIRS
(default 2) times in this process alternated with BENCH_WORKERS (default: the CPU count) worker
processes verifying ranges of the log (infra/audit/ranges.py; BENCH_SKIP_WORKERS=1 leaves them
out), and with the check `audit verify --store-dir` makes from the store's message blocks
(infra/audit/from_blocks.py) in one process and in BENCH_WORKERS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from benchmarks.bench_forecaster_lag import model_bytes
from infra.audit.blocks import stored_stream
from infra.audit.checkpointer import Checkpointer
from infra.audit.from_blocks import verify_stored
from infra.audit.log import extent, verify_log
from infra.audit.ranges import Ranges, verify_ranges
from infra.audit.rederive import fetch_artifacts, recorded_forecasts, rederive
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.eventstore.checkpoint import SigningKey
from infra.eventstore.records import RawRecord
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import StreamVerifier
from infra.eventstore.wire import WireClient
from infra.eventstore.wire_protocol import parse_headers
from infra.eventstore.wire_reads import WireReads
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
STORE = os.environ.get("BENCH_STORE")
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
PAIRS = int(os.environ.get("BENCH_PAIRS", "2"))
ONLY = os.environ.get("BENCH_ONLY", "")  # "chain": the chain check only, no re-derivation
ONLY_FILES = os.environ.get("BENCH_SKIP_WORKERS", "") == "1"  # no wire worker processes
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


async def measure(url: str, store: Path) -> None:
    nc = await connect_nats(url)
    sealer = Checkpointer(
        nc, [EVENTS, FORECASTS], chain_key=b"", signing=SigningKey("k1", b"k" * 32), interval=60
    )
    await sealer.seal()

    layout, keys = SubjectLayout(EVENTS), {"k1": b"k" * 32}
    frames = await asyncio.to_thread(read_frames, url)
    records = [RawRecord(seq, s.decode(), parse_headers(h), d) for s, seq, h, d in frames]

    verifier = StreamVerifier(layout, signing_keys=keys)
    frame = verifier.frame
    with timed() as took:
        for message in frames:
            frame(*message)
        report = verifier.report()
    assert report.ok, report.problems[:5]
    events = report.events
    rate("chain_verify_events", events, took)
    print("note: the audit's hot path, each message's raw bytes as the wire client parses them")

    verifier = StreamVerifier(layout, signing_keys=keys)
    with timed() as by_records:
        verifier.add(records)
        assert verifier.report().ok
    rate("chain_verify_records_events", events, by_records)
    print("note: the same verifier fed decoded records (header dicts), as nats-py reads give")

    with timed() as floor:
        for message in frames:
            hashlib.sha256(message[3]).hexdigest()
    rate("sha256_only_events", events, floor)
    print(f"chain_verify_vs_sha256_only {floor.wall / took.wall:.3f} x")
    print("peer: sha256 over the same payloads and nothing else (the floor of any chain check)")

    size = await extent(nc, EVENTS)
    ranges = Ranges(WORKERS, from_messages=0)
    stored = stored_stream(store, EVENTS)
    assert stored is not None

    def make(range_part: bool) -> StreamVerifier:
        return StreamVerifier(layout, signing_keys=keys, range_part=range_part)

    single: list[Took] = []
    split: list[Took] = []
    files: dict[int, list[Took]] = {1: [], WORKERS: []}
    for _ in range(PAIRS):  # alternated in one sitting: the load drifts
        verifier = StreamVerifier(layout, signing_keys=keys)
        with timed() as end_to_end:
            await verify_log(nc, EVENTS, verifier)
            assert verifier.report().ok
        rate("read_and_verify_events", events, end_to_end)
        single.append(end_to_end)
        if not ONLY_FILES:
            verifier = StreamVerifier(layout, signing_keys=keys)
            with timed() as in_ranges:
                await verify_ranges(nc, EVENTS, verifier, size, ranges)
                assert verifier.report().ok
            rate(f"read_and_verify_{WORKERS}_workers_events", events, in_ranges)
            split.append(in_ranges)
        for processes in files:
            # The server is idle (its writes synced): its block files are what a copy holds.
            with timed() as from_files:
                verdict = verify_stored(stored, make, processes=processes)
                assert verdict.verifier.report().ok
                assert verdict.verifier.events == events
            rate(f"verify_from_blocks_{processes}_processes_events", events, from_files)
            files[processes].append(from_files)
        print(f"load_average {os.getloadavg()}", flush=True)
    if split:
        best = min(t.wall for t in single) / min(t.wall for t in split)
        print(f"read_and_verify_{WORKERS}_workers_vs_1_wall {best:.2f} x (best of {PAIRS} each)")
    print("note: `audit verify`'s chain check end to end: read from the server and verified, in")
    print(f"  this process, then in {WORKERS} worker processes (ranges joined here; CPU seconds")
    print("  include the workers'); peer: the single process in the same sitting")
    for processes, runs in files.items():
        ratio = min(t.wall for t in single) / min(t.wall for t in runs)
        print(f"verify_from_blocks_{processes}_processes_vs_read_and_verify_wall {ratio:.2f} x")
    print("note: `audit verify --store-dir`'s chain check: the message blocks read from the store")
    print("  directory and verified (forked children; CPU seconds include them); peer: the same")
    print("  check read from the server (read_and_verify), best wall of each in this sitting")

    if ONLY == "chain":
        await nc.close()
        return
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
        alone = rederive([f], artifacts)
        assert alone.ok
    naive_s = time.perf_counter() - started
    print(f"rederive_one_call_each_per_s {len(naive) / naive_s:.0f} forecasts/s")
    speedup = (len(recorded) / batched_s) / (len(naive) / naive_s)
    print(f"rederive_batched_vs_one_call_each {speedup:.2f} x")
    print("peer: one model call (and artifact load) per forecast, same artifacts")
    await nc.close()


@dataclass
class Took:
    wall: float = 0.0
    cpu: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Took]:
    took = Took()
    wall, cpu = time.perf_counter(), _cpu()
    yield took
    took.wall, took.cpu = time.perf_counter() - wall, _cpu() - cpu


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the audit's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def rate(name: str, count: int, took: Took) -> None:
    print(f"{name}_per_s {count / took.wall:.0f} events/s", flush=True)
    print(f"{name}_per_cpu_s {count / took.cpu:.0f} events/s", flush=True)


def read_frames(url: str) -> list[tuple[bytes, int, bytes, bytes]]:
    """Every message of the events stream as the wire client hands it over, kept in memory."""
    reads = WireReads(WireClient(url, EVENTS), SubjectLayout(EVENTS))
    try:
        got = reads.consume({}, 1, lambda *frame: frame, limit=1 << 62)
    finally:
        reads.close()
    assert got is not None
    return got.items


def main() -> None:
    settings = Settings(stream_name=EVENTS)
    with contextlib.ExitStack() as stack:
        store = Path(STORE) if STORE else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ready = store / "bench-audit-ready"
        server = EmbeddedNats(
            NatsConfig(store_dir=store, port=free_port(), monitor_port=free_port())
        )
        server.start()
        try:
            if ready.exists():
                print(f"# measuring the store kept in {store}")
            else:
                stored = asyncio.run(replay(server.url, settings))
                print(f"# replayed {stored} events ({SINCE}..{UNTIL}); forecasting them")
                forecast_everything(server.url, settings, model_bytes())
                ready.touch()
            asyncio.run(measure(server.url, store))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
