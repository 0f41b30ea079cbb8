"""Forecaster lag while the feed replays as fast as it can.

A real `sportcast serve forecaster` process follows the feed while this process replays
football (Jan-Mar 2016 by default) into the same nats-server. Lag of a forecast = the time its
ForecastIssued event was created minus the time its triggering feed event was created (both
wall-clock timestamps the events carry). Peer: none; the issue's target is lag p99 < 100 ms at a
2,000 events/s replay, and the replay rate reached here is printed beside it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from benchmarks.eval_football import build_features, read_matches
from commands.forecasting.football_model import FootballModelParameters, train_football_model
from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.forecast import FixtureForecasts
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.player import FeedPlayer
from infra.feeds.replay import Replay
from infra.forecasting.model_file import dump_model
from infra.forecasting.service import forecaster_env
from infra.intake import event_store_env, open_intake
from infra.settings import Settings

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))
SINCE = date.fromisoformat(os.environ.get("BENCH_REPLAY_FROM", "2016-01-01"))
UNTIL = date.fromisoformat(os.environ.get("BENCH_REPLAY_TO", "2016-03-31"))


def model_bytes() -> bytes:
    scored = build_features(read_matches(DATA / "football"))
    train = [s for s in scored if s.fixture.season < "2015-2016"]
    hold = [s for s in scored if s.fixture.season == "2014-2015"]
    train = [s for s in train if s.fixture.season != "2014-2015"]
    model = train_football_model(
        [s.features for s in train],
        np.array([s.outcome for s in train]),
        [s.features for s in hold],
        np.array([s.outcome for s in hold]),
        FootballModelParameters(thread_count=1),
    )
    return dump_model(model)


async def replay(url: str, settings: Settings) -> tuple[int, float]:
    messages = Replay(DATA, since=SINCE, until=UNTIL).messages("football")
    nc = await connect_nats(url)
    async with open_intake(settings, url, nc, workers=64) as intake:
        report = await FeedPlayer(intake, source="replay-football", lanes=64).play(messages)
    await nc.close()
    return report.events_stored, report.events_per_second


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
        forecaster = subprocess.Popen(
            [str(Path(sys.executable).parent / "sportcast"), "serve", "forecaster"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)  # let it start and subscribe
            stored, rate = asyncio.run(replay(server.url, settings))
            feeds_env = event_store_env(settings, server.url)
            feeds = FeedIngestion(feeds_env)
            reader = Forecaster(forecaster_env(feeds_env, settings.forecaster_stream))
            head = feeds.recorder.max_notification_id() or 0
            deadline = time.monotonic() + 300
            while (reader.recorder.max_tracking_id(feeds.name) or 0) < head:
                if time.monotonic() > deadline:
                    raise RuntimeError("the forecaster did not catch up in 300 s")
                time.sleep(0.5)
            created = {
                n.id: feeds.mapper.to_domain_event(n).timestamp
                for n in feeds.recorder.select_notifications(start=1, limit=10_000_000)
            }
            lags = [
                (event.timestamp - created[event.as_of_position]).total_seconds() * 1000
                for n in reader.recorder.select_notifications(start=1, limit=10_000_000)
                if isinstance(
                    event := reader.mapper.to_domain_event(n), FixtureForecasts.ForecastIssued
                )
            ]
            reader.close()
            feeds.close()
        finally:
            forecaster.send_signal(signal.SIGINT)
            forecaster.wait(30)
            server.stop()
    print("peer: none (target: lag p99 < 100 ms while the replay runs at 2,000 events/s)")
    print(f"replay_rate_during_forecasting {rate:.0f} events/s")
    print(f"replay_events {stored} events")
    print(f"forecasts_issued {len(lags)} forecasts")
    print(f"forecast_lag_p50 {np.percentile(lags, 50):.1f} ms")
    print(f"forecast_lag_p99 {np.percentile(lags, 99):.1f} ms")
    print(f"forecast_lag_max {max(lags):.1f} ms")


if __name__ == "__main__":
    main()
