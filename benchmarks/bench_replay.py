"""Replay throughput: the football dataset into the event store as fast as possible, end to end
(CSV rows -> messages -> commands -> domain -> JetStream, with payloads, receipts and the
quarantine). The clock runs while the feed is applied, from the moment every worker has read
its share of the dataset and connected (reading the CSVs is reported separately).

Peer, same run, same server: raw nats-py acknowledged publishes (512 in flight) of as many
300-byte messages as the replay stored events: the ceiling of the transport alone.

Env: SPORTCAST_DATA_DIR (datasets), BENCH_REPLAY_FROM / BENCH_REPLAY_TO (kick-off dates,
default: the whole dataset), BENCH_DURABILITY (fsync, the embedded default | replicated),
BENCH_WORKERS (processes, each with whole leagues, default 4; 0: the player in this process),
BENCH_LANES (fixtures played in parallel per worker, default 1), BENCH_RUN (messages per save,
default 300), BENCH_WINDOW (the player's watermark window, default: its own).
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from infra.bootstrap import open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.parallel import (
    COLLECTOR_THRESHOLDS,
    ReplayShare,
    play_in_parallel,
    share_out,
)
from infra.feeds.player import FeedPlayer, PlayReport
from infra.feeds.replay import Replay
from infra.settings import Settings


async def raw_publish(url: str, count: int) -> float:
    nc = await connect_nats(url)
    js = nc.jetstream()
    await js.add_stream(name="RAWPEER", subjects=["rawpeer.>"])
    payload = b"x" * 300
    started = time.perf_counter()
    in_flight: list[asyncio.Future[object]] = []
    for n in range(count):
        in_flight.append(asyncio.ensure_future(js.publish(f"rawpeer.{n % 1000}", payload)))
        if len(in_flight) >= 512:
            await asyncio.gather(*in_flight)
            in_flight.clear()
    await asyncio.gather(*in_flight)
    elapsed = time.perf_counter() - started
    await nc.close()
    return count / elapsed


async def play_here(template: ReplayShare) -> PlayReport:
    """The whole replay in this process (BENCH_WORKERS=0): easiest to profile. The collector
    is tuned meanwhile as in a worker process, so that profiles match."""
    defaults = gc.get_threshold()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        return await _play_here(template)
    finally:
        gc.set_threshold(*defaults)


async def _play_here(template: ReplayShare) -> PlayReport:
    messages = Replay(template.data_dir, since=template.since, until=template.until).messages(
        template.source
    )
    nc = await connect_nats(template.nats_url)
    try:
        async with open_intake(
            template.settings, template.nats_url, nc, workers=template.lanes
        ) as intake:
            player = FeedPlayer(
                intake,
                source=template.player_source,
                lanes=template.lanes,
                run=template.run,
                window=template.window,
            )
            return await player.play(messages)
    finally:
        await nc.close()


def replay(
    template: ReplayShare, workers: int, server_pid: int | None
) -> tuple[PlayReport, PlayReport]:
    started = time.perf_counter()
    sizes = Replay(template.data_dir, since=template.since, until=template.until).groups("football")
    shares = share_out(sizes, workers)
    print(f"replay_sizing_seconds {time.perf_counter() - started:.1f} s")
    print(f"replay_shares {' | '.join(','.join(s) for s in shares) if workers else 'in-process'}")
    server_cpu = server_cpu_seconds(server_pid)
    if workers == 0:
        first = asyncio.run(play_here(template))
    else:
        first, per_worker = play_in_parallel(template, shares)
        for n, r in enumerate(per_worker):
            print(
                f"worker[{n}]: {r.messages} messages, {r.events_stored} events, "
                f"{r.seconds:.1f} s, {r.cpu_seconds / r.seconds:.0%} of a core"
            )
    server_cpu = server_cpu_seconds(server_pid) - server_cpu
    print(f"load_average_after_replay {os.getloadavg()[0]:.2f}")
    per_k = 1000 / first.events_stored if first.events_stored else 0.0
    print(f"replay_server_cpu_per_1000_events {server_cpu * per_k:.3f} s")
    second = (
        asyncio.run(play_here(template)) if workers == 0 else play_in_parallel(template, shares)[0]
    )
    return first, second


def server_cpu_seconds(pid: int | None) -> float:
    """user + system CPU of the nats-server process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(first: PlayReport, second: PlayReport, peer: float) -> None:
    print(f"replay_messages {first.messages} messages")
    print(f"replay_events_stored {first.events_stored} events")
    print(f"replay_rows_quarantined {len(first.refused_origins)} rows")
    print(f"replay_refusals {sum(first.refused.values())} messages")
    print(f"replay_seconds {first.seconds:.1f} s")
    print(f"replay_throughput {first.events_per_second:.0f} events/s")
    print(f"replay_messages_per_second {first.messages / first.seconds:.0f} messages/s")
    print(f"replay_most_late_within_a_worker {first.most_late:.0f} s of event time")
    per_k = 1000 / first.events_stored if first.events_stored else 0.0
    print(f"replay_python_cpu_per_1000_events {first.cpu_seconds * per_k:.3f} s")
    print(f"replay_again_events_added {second.events_stored} events")
    print(f"replay_again_seconds {second.seconds:.1f} s")
    print(f"replay_again_duplicates {second.duplicates} messages")
    print(f"replay_again_refusals {sum(second.refused.values())} messages")
    for code, count in sorted(first.refused.items()):
        print(f"refused[{code}]: {count}")
    print(f"peer_raw_publish {peer:.0f} msgs/s")
    print(f"replay_vs_raw_ratio {first.events_per_second / peer:.3f} x")


def main() -> None:
    durability = os.environ.get("BENCH_DURABILITY", "fsync")
    since = os.environ.get("BENCH_REPLAY_FROM")
    until = os.environ.get("BENCH_REPLAY_TO")
    workers = int(os.environ.get("BENCH_WORKERS", "4"))
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedNats(
            NatsConfig(
                store_dir=Path(tmp),
                port=free_port(),
                monitor_port=free_port(),
                sync_always=durability == "fsync",
            )
        )
        server.start()
        try:
            print(f"peer: raw nats-py acknowledged publishes, 512 in flight, {durability} server")
            print(f"load_average_before {os.getloadavg()[0]:.2f}")
            settings = Settings()
            template = ReplayShare(
                settings=settings,
                nats_url=server.url,
                data_dir=settings.data_dir,
                source="football",
                since=date.fromisoformat(since) if since else None,
                until=date.fromisoformat(until) if until else None,
                player_source="replay-football",
                lanes=int(os.environ.get("BENCH_LANES", "1")),
                run=int(os.environ.get("BENCH_RUN", "300")),
                window=int(os.environ.get("BENCH_WINDOW", "0")) or None,
            )
            print(f"replay_workers {workers}")
            first, second = replay(template, workers, server.pid)
            peer = asyncio.run(raw_publish(server.url, first.events_stored))
            report(first, second, peer)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
