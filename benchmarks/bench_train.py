"""Retraining on the replayed football history: `sportcast model train` wall time, and its split.

Set-up: an embedded nats-server (fsync mode) filled by `sportcast feed replay --source football
--workers 4` (BENCH_REPLAY_FROM / BENCH_REPLAY_TO: kick-off dates, default the whole dataset,
about 450,000 events and 7 minutes), or BENCH_NATS_URL: a store already filled (only its model
registry and artifact bucket are written to).

Measured: `sportcast model train` as its own process, BENCH_RUNS times (default 2): wall time and
the process's CPU. Then in this process, the same work step by step on the same cut-off: reading
the notifications, decoding them into forecasting inputs, building the training rows, fitting.
The machine is shared, so the CPU seconds and load averages are printed beside the wall times.

Peer (same run, same notifications): decoding through the mapper into whole domain events and
translating those, as the trainer did before it decoded only the fields it uses.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from commands.ingestion import FeedIngestion
from forecasting.football.evaluation import train_for_holdout
from forecasting.football.from_events import InputTranslator
from forecasting.football.inputs import ForecastInput
from forecasting.football.training_set import build_rows, seasons_of
from infra.bootstrap import event_store_env
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.forecasting.history import max_position, read_notifications
from infra.forecasting.kinds import PARAMETERS
from infra.forecasting.stored_fields import TOPICS, FieldDecoder
from infra.settings import Settings

T = TypeVar("T")
SPORTCAST = str(Path(sys.executable).parent / "sportcast")


def timed(name: str, work: Callable[[], T]) -> T:
    """Run `work`, print its wall and CPU seconds (this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    print(f"{name}_wall {time.perf_counter() - wall:.2f} s")
    print(f"{name}_cpu {time.process_time() - cpu:.2f} s")
    return result


def replay(env: dict[str, str]) -> None:
    command = [SPORTCAST, "feed", "replay", "--source", "football", "--workers", "4"]
    for option, variable in (("--from", "BENCH_REPLAY_FROM"), ("--to", "BENCH_REPLAY_TO")):
        if os.environ.get(variable):
            command += [option, os.environ[variable]]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"replay_seconds {time.perf_counter() - started:.1f} s")


def train_command(env: dict[str, str], run: int) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"load_average_before_train[{run}]: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.perf_counter()
    proc = subprocess.run(
        [SPORTCAST, "model", "train"], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"sportcast model train failed:\n{proc.stdout}\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"train_command_wall {wall:.1f} s")
    print(f"train_command_cpu {cpu:.1f} s")
    for line in proc.stdout.strip().splitlines():
        print(f"trainer[{run}]: {line.strip()}")


def split(url: str, settings: Settings) -> None:
    """The command's steps, one by one, in this process."""
    feeds = FeedIngestion(event_store_env(settings, url))
    try:
        cutoff = max_position(feeds)
        print(f"cutoff_position {cutoff} notifications")
        notifications = timed(
            "step_read",
            lambda: [
                n for page in read_notifications(feeds, cutoff=cutoff, topics=TOPICS) for n in page
            ],
        )
        print(f"notifications_read {len(notifications)} notifications")

        def by_fields() -> list[ForecastInput]:
            decoder = FieldDecoder.for_mapper(feeds.mapper, InputTranslator())
            assert decoder is not None
            return [x for n in notifications if (x := decoder.translate(n)) is not None]

        def by_domain_events() -> list[ForecastInput]:
            translator, to_event = InputTranslator(), feeds.mapper.to_domain_event
            return [
                x for n in notifications if (x := translator.translate(to_event(n))) is not None
            ]

        inputs = timed("step_decode", by_fields)
        peer = timed("peer_decode_domain_events", by_domain_events)
        if peer != inputs:
            raise RuntimeError("decoding fields and decoding domain events disagree")
        rows = timed("step_build_rows", lambda: build_rows(inputs))
        print(f"training_rows {len(rows)} rows")
        timed("step_fit", lambda: train_for_holdout(rows, seasons_of(rows)[-1], PARAMETERS))
    finally:
        feeds.close()


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "2"))
    print("peer: the same notifications decoded into whole domain events by the mapper")
    with tempfile.TemporaryDirectory() as tmp:
        server: EmbeddedNats | None = None
        url = os.environ.get("BENCH_NATS_URL", "")
        if not url:
            server = EmbeddedNats(
                NatsConfig(store_dir=Path(tmp), port=free_port(), monitor_port=free_port())
            )
            server.start()
            url = server.url
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
            "SPORTCAST_NATS_URL": url,
            "SPORTCAST_DATA_DIR": str(Settings().data_dir),
        }
        try:
            if server is not None:
                replay(env)
            for run in range(runs):
                train_command(env, run)
            split(url, Settings(nats_url=url))
            print(f"load_average_after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
