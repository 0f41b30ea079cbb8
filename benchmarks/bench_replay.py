"""Replay throughput: the football dataset into the event store as fast as possible, end to end
(CSV rows -> messages -> commands -> domain -> JetStream, with receipts and the quarantine).

Peer, same run, same server: raw nats-py acknowledged publishes (512 in flight) of as many
300-byte messages as the replay stored events: the ceiling of the transport alone.

Env: SPORTCAST_DATA_DIR (datasets), BENCH_REPLAY_FROM / BENCH_REPLAY_TO (kick-off dates,
default: the whole dataset), BENCH_DURABILITY (fsync, the embedded default | replicated),
BENCH_LANES (fixtures played in parallel, default 64), BENCH_RUN (messages per save, default 32).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.player import FeedPlayer
from infra.feeds.replay import Replay
from infra.intake import open_intake
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


async def replay(url: str, settings: Settings, since: date | None, until: date | None) -> None:
    replayer = Replay(settings.data_dir, since=since, until=until)
    messages = replayer.messages("football")
    nc = await connect_nats(url)
    lanes = int(os.environ.get("BENCH_LANES", "64"))
    run = int(os.environ.get("BENCH_RUN", "32"))
    window = int(os.environ.get("BENCH_WINDOW", "0")) or None
    async with open_intake(settings, url, nc, workers=lanes) as intake:
        first = await FeedPlayer(
            intake, source="replay-football", lanes=lanes, run=run, window=window
        ).play(messages)
        second = await FeedPlayer(
            intake, source="replay-football", lanes=lanes, run=run, window=window
        ).play(messages)
    await nc.close()
    peer = await raw_publish(url, first.events_stored)
    print(f"replay_messages {first.messages} messages")
    print(f"replay_events_stored {first.events_stored} events")
    print(f"replay_rows_quarantined {len(first.refused_origins)} rows")
    print(f"replay_refusals {sum(first.refused.values())} messages")
    print(f"replay_seconds {first.seconds:.1f} s")
    print(f"replay_throughput {first.events_per_second:.0f} events/s")
    print(f"replay_messages_per_second {first.messages / first.seconds:.0f} messages/s")
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
            asyncio.run(
                replay(
                    server.url,
                    Settings(),
                    date.fromisoformat(since) if since else None,
                    date.fromisoformat(until) if until else None,
                )
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
