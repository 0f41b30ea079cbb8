"""Event store throughput and latency, JetStream module vs raw nats-py vs eventsourcing.postgres.

Run: python -m benchmarks.bench_eventstore   (prints ``name value unit`` and ``peer:`` lines)
     BENCH_WRITERS=32 python -m benchmarks.bench_eventstore   (more writer threads, all peers)
     BENCH_ONLY=reads python -m benchmarks.bench_eventstore   (only the read-side part)
     BENCH_HEAP=300000 ...   (long-lived objects held while the reads' cost to other threads
                              is measured, gc held off during reads vs not: other_thread_gap.*)
     BENCH_MODES=fsync,replicated-r3 python -m benchmarks.bench_eventstore   (some modes only)

Modes (BENCH_MODES, comma-separated; default: all, in this order):
  postgres          eventsourcing.postgres on embedded PostgreSQL (the ``ratio.*_vs_postgres``
                    lines of the other modes need it in the same run)
  fsync             one nats-server, sync_interval always, R1 stream (durability=fsync)
  replicated-1node  one nats-server, default flush, R1 stream. NOT the production replicated
                    setting: a single-server file stream makes and removes a file store per
                    atomic batch (~2 ms), which an R3 stream does not; kept for comparison
                    with earlier runs (which named it ``replicated``). Also runs the reads.
  replicated-r3     three nats-servers on loopback as one JetStream cluster, default flush,
                    R3 streams (durability=replicated as ADR 0003 defines it)
Each mode gets its own nats-server(s) in a temp dir; PostgreSQL is embedded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nats
from eventsourcing.persistence import ApplicationRecorder, ProcessRecorder, StoredEvent, Tracking

from benchmarks import secure
from infra.embedded.nats import EmbeddedCluster, EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from infra.eventstore import JetStreamFactory, eventstream

PAYLOAD = b'{"fixture":"' + b"x" * 270 + b'"}'  # ~300-byte event, as in shared/README
TOPIC = "domain.odds:OddsQuote.Recorded"
WRITERS = int(os.environ.get("BENCH_WRITERS", "16"))  # same for every peer
HEAP = int(os.environ.get("BENCH_HEAP", "300000"))  # long-lived objects for the stall figure
ONLY = os.environ.get("BENCH_ONLY", "")  # "reads": just bench_reads (replicated-1node); "": all
ALL_MODES = ("postgres", "fsync", "replicated-1node", "replicated-r3")
MODES = [
    m.strip() for m in os.environ.get("BENCH_MODES", ",".join(ALL_MODES)).split(",") if m.strip()
]


def out(name: str, value: float, unit: str) -> None:
    print(f"{name} {value:.3f} {unit}", flush=True)


def events(n: int) -> list[StoredEvent]:
    agg = uuid.uuid4()
    return [StoredEvent(agg, v, TOPIC, PAYLOAD) for v in range(1, n + 1)]


def concurrent_saves(
    save: Callable[[Sequence[StoredEvent]], object], saves: int, size: int
) -> float:
    """Saves per second with WRITERS threads each saving new aggregates."""
    work = [events(size) for _ in range(saves)]
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(save, work[: WRITERS * 2]))  # warm up connections and caches
        started = time.perf_counter()
        list(pool.map(save, work[WRITERS * 2 :]))
    return (saves - WRITERS * 2) / (time.perf_counter() - started)


def sequential_saves(save: Callable[[Sequence[StoredEvent]], object], saves: int) -> float:
    work = [events(1) for _ in range(saves)]
    started = time.perf_counter()
    for w in work:
        save(w)
    return saves / (time.perf_counter() - started)


async def raw_nats(
    url: str, stream: str, *, singles: int, batches: int, replicas: int = 1
) -> tuple[float, float]:
    """Raw nats-py: acknowledged single publishes, and atomic 10-message batches (16 in flight)."""
    nc = await nats.connect(servers=url.split(","), **secure.nats_options(url))
    cfg = {
        "name": stream,
        "subjects": [f"{stream}.>"],
        "storage": "file",
        "allow_atomic": True,
        "num_replicas": replicas,
    }
    answer = await nc.request(
        f"$JS.API.STREAM.CREATE.{stream}", json.dumps(cfg).encode(), timeout=10
    )
    assert "error" not in json.loads(answer.data), answer.data
    sem = asyncio.Semaphore(WRITERS)

    async def single(i: int) -> None:
        async with sem:
            headers = {"Nats-Expected-Last-Subject-Sequence": "0"}
            await nc.request(f"{stream}.s{i}", PAYLOAD, timeout=10, headers=headers)

    async def batch(i: int) -> None:
        async with sem:
            bid = uuid.uuid4().hex
            for k in range(1, 10):
                h = {"Nats-Batch-Id": bid, "Nats-Batch-Sequence": str(k)}
                await nc.publish(f"{stream}.b{i}", PAYLOAD, headers=h)
            h = {"Nats-Batch-Id": bid, "Nats-Batch-Sequence": "10", "Nats-Batch-Commit": "1"}
            await nc.request(f"{stream}.b{i}", PAYLOAD, timeout=10, headers=h)

    started = time.perf_counter()
    await asyncio.gather(*(single(i) for i in range(singles)))
    single_rate = singles / (time.perf_counter() - started)
    started = time.perf_counter()
    await asyncio.gather(*(batch(i) for i in range(batches)))
    batch_rate = batches * 10 / (time.perf_counter() - started)
    await nc.close()
    return single_rate, batch_rate


def start_nats(root: Path, *, sync_always: bool) -> EmbeddedNats:
    server = EmbeddedNats(
        NatsConfig(
            store_dir=root / ("fsync" if sync_always else "replicated-1node"),
            port=free_port(),
            monitor_port=free_port(),
            sync_always=sync_always,
            **secure.server_options(),
        )
    )
    server.start()
    return server


def start_cluster(root: Path) -> EmbeddedCluster:
    """Three nats-servers on loopback, default flush (durability=replicated, ADR 0003)."""
    cluster = EmbeddedCluster(root / "replicated-r3", name="bench-r3")
    cluster.start()
    if not cluster.wait_for_meta_leader(40):
        cluster.stop()
        raise RuntimeError("the bench cluster elected no JetStream meta leader in 40 s")
    return cluster


def jetstream_factory(url: str, stream: str, replicas: int) -> JetStreamFactory:
    env = {"NATS_URL": url, "NATS_STREAM": stream, "NATS_REPLICAS": str(replicas)}
    return JetStreamFactory({**env, **secure.store_env()})


def jetstream_recorder(url: str, replicas: int = 1) -> tuple[JetStreamFactory, ApplicationRecorder]:
    factory = jetstream_factory(url, f"B{uuid.uuid4().hex[:8]}", replicas)
    return factory, factory.application_recorder()


def process_saves(url: str, saves: int, replicas: int = 1) -> list[float]:
    """Latencies (ms) of a process's saves one after another: one new event and its position,
    as the forecaster's usual save (one plain publish, ADR 0004)."""
    factory = jetstream_factory(url, f"P{uuid.uuid4().hex[:8]}", replicas)
    try:
        rec = factory.process_recorder()
        assert isinstance(rec, ProcessRecorder)
        timings = []
        for i in range(1, saves + 1):
            started = time.perf_counter()
            rec.insert_events(events(1), tracking=Tracking("upstream", i))
            timings.append((time.perf_counter() - started) * 1000)
        assert rec.max_tracking_id("upstream") == saves
        return sorted(timings[20:])  # after warming up
    finally:
        factory.close()


def bench_mode(root: Path, mode: str, pg: dict[str, float] | None) -> None:
    if mode == "replicated-r3":
        cluster = start_cluster(root)
        url, replicas, stop = cluster.url, 3, cluster.stop
    else:
        server = start_nats(root, sync_always=mode == "fsync")
        url, replicas, stop = server.url, 1, server.stop
    try:
        scale = 1 if mode == "fsync" else 3
        raw_single, raw_batch = asyncio.run(
            raw_nats(url, "RAW", singles=2000 * scale, batches=300 * scale, replicas=replicas)
        )
        out(f"{mode}.raw_nats.single_publishes", raw_single, "msg/s")
        out(f"{mode}.raw_nats.atomic_batch10", raw_batch, "events/s")
        factory, rec = jetstream_recorder(url, replicas)
        try:
            single = concurrent_saves(rec.insert_events, 3000 * scale, 1)
            ten = concurrent_saves(rec.insert_events, 600 * scale, 10) * 10
            stats = rec.stream.appender._batches.stats  # type: ignore[attr-defined]
            seq = sequential_saves(rec.insert_events, 500)
        finally:
            factory.close()
        process = process_saves(url, 520, replicas)
        out(f"{mode}.jetstream.group_commit.saves_per_batch", stats.saves_per_batch, "saves")
        out(f"{mode}.jetstream.group_commit.messages_per_batch", stats.messages_per_batch, "msgs")
        out(f"{mode}.jetstream.single_event_saves", single, "saves/s")
        out(f"{mode}.jetstream.ten_event_saves", ten, "events/s")
        out(f"{mode}.jetstream.single_event_saves_one_writer", seq, "saves/s")
        out(f"{mode}.jetstream.process_save_one_event.p50", statistics.median(process), "ms")
        out(f"{mode}.jetstream.process_save_one_event.p99", _p99(process), "ms")
        if pg is not None:
            out(f"{mode}.ratio.single_saves_vs_postgres", single / pg["single"], "x")
            out(f"{mode}.ratio.ten_event_saves_vs_postgres", ten / pg["ten"], "x")
        out(f"{mode}.ratio.single_saves_vs_raw_nats", single / raw_single, "x")
        out(f"{mode}.ratio.ten_event_saves_vs_raw_batches", ten / raw_batch, "x")
        if mode == "replicated-1node":
            bench_reads(url)
    finally:
        stop()


def read_every_notification(rec: ApplicationRecorder) -> int:
    """Read the whole stream in pages of 10,000; how many notifications there were."""
    seen, start = 0, 0
    while True:
        page = rec.select_notifications(start, 10_000, inclusive_of_start=False)
        if not page:
            return seen
        seen += len(page)
        start = page[-1].id


def bench_reads(url: str) -> None:
    factory, rec = jetstream_recorder(url)
    try:
        big = events(1000)
        for i in range(0, 1000, 100):
            rec.insert_events(big[i : i + 100])
        # A new reader that never saw the aggregate (no known head; its connections are new).
        stream_name = rec.stream.layout.stream  # type: ignore[attr-defined]
        cold_factory = JetStreamFactory(
            {"NATS_URL": url, "NATS_STREAM": stream_name, "NATS_LINK": "own", **secure.store_env()}
        )
        try:
            cold_rec = cold_factory.application_recorder()
            started = time.perf_counter()
            assert len(cold_rec.select_events(big[0].originator_id)) == 1000
            cold = (time.perf_counter() - started) * 1000
        finally:
            cold_factory.close()
        timings = []
        for _ in range(100):
            started = time.perf_counter()
            loaded = rec.select_events(big[0].originator_id)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(loaded) == 1000
        timings.sort()
        out("aggregate_load_1000_events.p50", statistics.median(timings), "ms")
        out("aggregate_load_1000_events.p99", _p99(timings), "ms")
        out("aggregate_load_1000_events.first_load_new_reader", cold, "ms")
        other_thread_stalls(lambda: rec.select_events(big[0].originator_id))

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(rec.insert_events, [events(100) for _ in range(990)]))
        started = time.perf_counter()
        seen = read_every_notification(rec)
        rate = seen / (time.perf_counter() - started)
        out("select_notifications_100k.events", seen, "events")
        out("select_notifications_100k.rate", rate, "events/s")
        # Peer: the same pages read through nats-py (the module's fallback read path).
        stream = rec.stream  # type: ignore[attr-defined]
        wire, stream._wire = stream._wire, None
        try:
            started = time.perf_counter()
            seen_py = read_every_notification(rec)
            rate_py = seen_py / (time.perf_counter() - started)
            loads = []
            for _ in range(20):
                t0 = time.perf_counter()
                rec.select_events(big[0].originator_id)
                loads.append((time.perf_counter() - t0) * 1000)
        finally:
            stream._wire = wire
        out("select_notifications_100k.rate_nats_py", rate_py, "events/s")
        out("select_notifications_100k.ratio_wire_vs_nats_py", rate / rate_py, "x")
        out("aggregate_load_1000_events.p50_nats_py", statistics.median(loads), "ms")
    finally:
        factory.close()


def other_thread_stalls(load: Callable[[], object], loads: int = 60) -> None:
    """What holding the collector off during reads (infra/eventstore/gcpause.py) costs the
    process's other threads, against not holding it, same run: a thread that wakes every
    millisecond and makes a little garbage records the gaps between its wake-ups while this
    thread loads aggregates. A process holds more than this benchmark does, so HEAP long-lived
    GC-tracked objects stand in for it (full collections walk them)."""
    furniture = [[n] for n in range(HEAP)]
    print(f"note: {len(furniture):,} long-lived tracked objects held for the stall measurement")
    for held in (True, False, True, False):
        gaps: list[float] = []
        loads_ms: list[float] = []
        stop = threading.Event()

        def tick(stop: threading.Event = stop, gaps: list[float] = gaps) -> None:
            last, litter = time.perf_counter(), []
            while not stop.is_set():
                time.sleep(0.001)
                litter.append([last])
                if len(litter) > 500:
                    litter.clear()
                now = time.perf_counter()
                gaps.append((now - last) * 1000)
                last = now

        ticker = threading.Thread(target=tick)
        with contextlib.ExitStack() as undo:
            if not held:
                undo.enter_context(_unheld())
            ticker.start()
            for _ in range(loads):
                started = time.perf_counter()
                load()
                loads_ms.append((time.perf_counter() - started) * 1000)
            stop.set()
            ticker.join()
        gaps.sort()
        loads_ms.sort()
        name = "gc_held" if held else "gc_not_held"
        out(f"other_thread_gap.{name}.max", gaps[-1], "ms")
        out(f"other_thread_gap.{name}.p99", _p99(gaps), "ms")
        out(f"aggregate_load_1000_events.{name}.p99", _p99(loads_ms), "ms")
    del furniture


@contextlib.contextmanager
def _unheld() -> Iterator[None]:
    """Reads without the hold: the read methods without their ``@gc_held()`` decorator."""
    stream = eventstream.EventStream
    saved = stream.select_events, stream.select_notifications
    stream.select_events = saved[0].__wrapped__  # type: ignore[attr-defined,method-assign]
    stream.select_notifications = saved[1].__wrapped__  # type: ignore[attr-defined,method-assign]
    try:
        yield
    finally:
        stream.select_events, stream.select_notifications = saved  # type: ignore[method-assign]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _p99(sorted_ms: list[float]) -> float:
    return sorted_ms[max(0, int(len(sorted_ms) * 0.99) - 1)]


def bench_postgres(root: Path) -> dict[str, float]:
    from eventsourcing.postgres import PostgresFactory

    server = EmbeddedPostgres(PostgresConfig(data_dir=root / "pg", port=free_port()))
    server.start()
    try:
        factory = PostgresFactory(
            {
                "POSTGRES_DBNAME": "postgres",
                "POSTGRES_HOST": server.config.host,
                "POSTGRES_PORT": str(server.config.port),
                "POSTGRES_USER": server.config.superuser,
                "POSTGRES_PASSWORD": "",
                "POSTGRES_POOL_SIZE": str(WRITERS),
                "POSTGRES_MAX_OVERFLOW": "4",
            }
        )
        rec = factory.application_recorder()
        single = concurrent_saves(rec.insert_events, 2000, 1)
        ten = concurrent_saves(rec.insert_events, 600, 10) * 10
        factory.close()
    finally:
        server.stop()
    out("postgres.single_event_saves", single, "saves/s")
    out("postgres.ten_event_saves", ten, "events/s")
    return {"single": single, "ten": ten}


def main() -> None:
    print("peer: raw nats-py publishes of the same 300-byte payloads (same servers, same run)")
    if "postgres" in MODES:
        print("peer: eventsourcing.postgres (psycopg) on embedded PostgreSQL 18, fsync on")
    if "replicated-1node" in MODES or ONLY == "reads":
        print("peer: reads of the same events through nats-py (*_nats_py lines, same run)")
    print(f"note: {WRITERS} concurrent writer threads; each save creates a new aggregate")
    print("note: modes", ",".join(MODES))
    print("note: NATS", secure.configure(), "(BENCH_SECURE=1: TLS + NKey users)")
    if secure.SECURE and "replicated-r3" in MODES:
        raise SystemExit("BENCH_SECURE: the 3-node cluster is not secured here; leave out r3")
    print("note: load average at start", _load())
    with tempfile.TemporaryDirectory(prefix="bench-eventstore-") as tmp:
        root = Path(tmp)
        if ONLY == "reads":
            server = start_nats(root, sync_always=False)
            try:
                bench_reads(server.url)
            finally:
                server.stop()
            print("note: load average at end", _load())
            return
        unknown = set(MODES) - set(ALL_MODES)
        if unknown:
            raise SystemExit(f"BENCH_MODES: unknown {sorted(unknown)}; choose from {ALL_MODES}")
        pg = bench_postgres(root) if "postgres" in MODES else None
        for mode in ALL_MODES[1:]:
            if mode in MODES:
                print(f"note: {mode} starts, load average", _load(), flush=True)
                bench_mode(root, mode, pg)
    print(f"note: machine threads={threading.active_count()}")
    print("note: load average at end", _load())


if __name__ == "__main__":
    main()
