"""Forecast issuance while a retraining runs beside it: the largest gap between forecasts.

Set-up, all real processes on one embedded nats-server (fsync mode):
1. History, untimed: football from BENCH_HISTORY_FROM (default 2012-07-01) to the day before
   BENCH_LIVE_FROM is replayed into the store as fast as possible.
2. A `sportcast serve forecaster` process starts and works through that history (issuing its
   forecasts); the benchmark waits until it has caught up.
3. Live: football from BENCH_LIVE_FROM (default 2015-08-01) to BENCH_LIVE_TO (2016-03-31) is
   played at a steady BENCH_LIVE_RATE messages/s (default 150), so forecasts keep coming.
4. BENCH_TRAIN_AFTER seconds (default 60) into the live phase, `sportcast model train` runs as its
   own process against the same store: it reads the whole stored history, trains CatBoost with
   the production parameters, stores the artifact and registers the model.

Measured: the largest interval between two consecutive forecasts (their ForecastIssued
timestamps) while the training process ran, and, as the peer from the same run, the largest
interval over an equally long stretch of the live phase before training started (shorter if
training outlasts BENCH_TRAIN_AFTER; the stretch is printed). Lag p99
(forecast stored minus its triggering feed event stored) is given for both stretches.
A full-history training needs BENCH_HISTORY_FROM=2009-07-01 (the replay then takes several
minutes).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from eventsourcing.domain import Aggregate

from benchmarks.bench_forecaster_lag import model_bytes
from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.forecast import FixtureForecasts
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.messages import FeedMessage
from infra.feeds.player import FeedPlayer
from infra.feeds.replay import Replay
from infra.forecasting.service import forecaster_env
from infra.settings import Settings

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))
HISTORY_FROM = date.fromisoformat(os.environ.get("BENCH_HISTORY_FROM", "2012-07-01"))
LIVE_FROM = date.fromisoformat(os.environ.get("BENCH_LIVE_FROM", "2015-08-01"))
LIVE_TO = date.fromisoformat(os.environ.get("BENCH_LIVE_TO", "2016-03-31"))
LIVE_RATE = float(os.environ.get("BENCH_LIVE_RATE", "150"))
TRAIN_AFTER = float(os.environ.get("BENCH_TRAIN_AFTER", "60"))
CHUNK = 25  # messages handed to the player at a time in the live phase


async def play_history(url: str, settings: Settings) -> int:
    messages = Replay(DATA, since=HISTORY_FROM, until=LIVE_FROM - timedelta(days=1)).messages(
        "football"
    )
    nc = await connect_nats(url)
    async with open_intake(settings, url, nc, workers=64) as intake:
        report = await FeedPlayer(intake, source="replay-football", lanes=64).play(messages)
    await nc.close()
    return report.events_stored


async def play_live(
    url: str, settings: Settings, messages: list[FeedMessage], start_training: asyncio.Event
) -> tuple[float, datetime]:
    """Play at a steady message rate; set ``start_training`` TRAIN_AFTER seconds in.

    Returns the rate reached and when the last message was stored."""
    nc = await connect_nats(url)
    started = time.monotonic()
    async with open_intake(settings, url, nc, workers=16) as intake:
        player = FeedPlayer(intake, source="replay-football", lanes=16)
        for offset in range(0, len(messages), CHUNK):
            due = started + offset / LIVE_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if time.monotonic() - started >= TRAIN_AFTER:
                start_training.set()
            await player.play(messages[offset : offset + CHUNK])
    await nc.close()
    return len(messages) / (time.monotonic() - started), datetime.now(UTC)


async def live_with_training(
    url: str, settings: Settings, env: dict[str, str]
) -> tuple[float, datetime, datetime, str]:
    messages = Replay(DATA, since=LIVE_FROM, until=LIVE_TO).messages("football")
    start_training = asyncio.Event()
    player = asyncio.create_task(play_live(url, settings, messages, start_training))
    await start_training.wait()
    began = datetime.now(UTC)
    trainer = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "sportcast"),
        "model",
        "train",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await trainer.communicate()
    ended = datetime.now(UTC)
    if trainer.returncode != 0:
        player.cancel()
        raise RuntimeError(f"sportcast model train failed:\n{output.decode()}")
    rate, finished = await player
    if ended >= finished:
        raise RuntimeError("training outlasted the live phase: lower BENCH_LIVE_RATE")
    return rate, began, ended, output.decode()


def caught_up(url: str, settings: Settings, timeout: float = 900) -> None:
    """Wait until the forecaster has recorded the feed's current head as processed."""
    feeds_env = event_store_env(settings, url)
    feeds = FeedIngestion(feeds_env)
    reader = Forecaster(forecaster_env(feeds_env, settings.forecaster_stream))
    try:
        head = feeds.recorder.max_notification_id() or 0
        deadline = time.monotonic() + timeout
        while (reader.recorder.max_tracking_id(feeds.name) or 0) < head:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the forecaster did not catch up in {timeout:.0f} s")
            time.sleep(0.5)
    finally:
        reader.close()
        feeds.close()


def forecasts(url: str, settings: Settings) -> list[tuple[datetime, float]]:
    """(issued at, lag ms) of every forecast, in issue order."""
    caught_up(url, settings)
    feeds_env = event_store_env(settings, url)
    feeds = FeedIngestion(feeds_env)
    reader = Forecaster(forecaster_env(feeds_env, settings.forecaster_stream))
    created = {
        n.id: event.timestamp
        for n in feeds.recorder.select_notifications(start=1, limit=10_000_000)
        if isinstance(event := feeds.mapper.to_domain_event(n), Aggregate.Event)
    }
    issued = [
        (event.timestamp, (event.timestamp - created[event.as_of_position]).total_seconds() * 1e3)
        for n in reader.recorder.select_notifications(start=1, limit=10_000_000)
        if isinstance(event := reader.mapper.to_domain_event(n), FixtureForecasts.ForecastIssued)
    ]
    reader.close()
    feeds.close()
    return issued


def stretch(
    issued: list[tuple[datetime, float]], since: datetime, until: datetime
) -> tuple[float, float, int]:
    """Largest gap (s) between forecasts in [since, until], bounds included; lag p99; count."""
    times = [since, *(t for t, _ in issued if since <= t <= until), until]
    lags = [lag for t, lag in issued if since <= t <= until]
    gap = max((b - a).total_seconds() for a, b in itertools.pairwise(times))
    return gap, float(np.percentile(lags, 99)) if lags else float("nan"), len(lags)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.bin"
        model_file.write_bytes(model_bytes())
        server = EmbeddedNats(
            NatsConfig(store_dir=Path(tmp) / "nats", port=free_port(), monitor_port=free_port())
        )
        server.start()
        settings = Settings(nats_url=server.url)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
            "SPORTCAST_NATS_URL": server.url,
            "SPORTCAST_MODEL_FILE": str(model_file),
        }
        forecaster: subprocess.Popen[bytes] | None = None
        try:
            history = asyncio.run(play_history(server.url, settings))
            forecaster = subprocess.Popen(
                [str(Path(sys.executable).parent / "sportcast"), "serve", "forecaster"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            caught_up(server.url, settings)  # it forecasts the history first: not measured
            rate, began, ended, trained = asyncio.run(live_with_training(server.url, settings, env))
            issued = forecasts(server.url, settings)
        finally:
            if forecaster is not None:
                forecaster.send_signal(signal.SIGINT)
                forecaster.wait(30)
            server.stop()
    training = ended - began
    during = stretch(issued, began, ended)
    live_started = began - timedelta(seconds=TRAIN_AFTER)
    before = stretch(issued, max(live_started, began - training), began)
    print("peer: the same live feed and forecaster over an equally long stretch just before")
    print("training started (same run)")
    print(f"history_events {history} events")
    print(f"live_rate {rate:.0f} messages/s")
    print(f"training_wall {training.total_seconds():.1f} s")
    print(f"forecasts_during_training {during[2]} forecasts")
    print(f"largest_gap_during_training {during[0] * 1e3:.0f} ms")
    print(f"lag_p99_during_training {during[1]:.0f} ms")
    print(f"peer_stretch {min(training.total_seconds(), TRAIN_AFTER):.1f} s")
    print(f"forecasts_before_training {before[2]} forecasts")
    print(f"peer_largest_gap_before_training {before[0] * 1e3:.0f} ms")
    print(f"peer_lag_p99_before_training {before[1]:.0f} ms")
    print(f"gap_during_vs_before_ratio {during[0] / before[0]:.2f} x")
    for line in trained.strip().splitlines():
        print(f"trainer: {line.strip()}")


if __name__ == "__main__":
    main()
