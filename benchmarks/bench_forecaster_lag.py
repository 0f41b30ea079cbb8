"""Forecaster lag at a paced 2,000 feed events/s (the issue's target: lag p99 < 100 ms).

On a 2-core machine the feed replay and the forecaster cannot both run at 2,000 events/s, so
by default (``BENCH_MODE=paced``) the feed is first stored, untimed: football Jan-Mar 2016
replayed into the feed stream. Then a real `sportcast serve forecaster` process follows a second
stream, and this process copies the stored messages into it, in order and with their headers
(version, topic, hash chain, message id; the chain's subject no longer matches, which the
forecaster does not check), by raw atomic-batch publishes paced so that domain events arrive at
``BENCH_RATE`` (2,000) per second: whatever is due goes in one batch, one batch in flight, as
the event store's group commit stores a live feed; a command receipt goes with its command's
events. Lag of a forecast = the JetStream timestamp of its stored ForecastIssued minus
the JetStream timestamp of its triggering feed event (both from the same server clock). The rate
printed is the one achieved, from the first and last copied messages' timestamps.

``BENCH_DURABILITY=replicated`` runs the server without fsync on every write (docs/adr/0003).

``BENCH_MODE=concurrent`` is the earlier setting: the forecaster follows while the replay runs
as fast as it can in this process (both fight for the 2 cores); lag is measured the same way.
Peer: none (the target is absolute).
"""

from __future__ import annotations

import asyncio
import calendar
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np
from eventsourcing.utils import get_topic

from benchmarks import secure
from benchmarks.eval_football import build_features, read_matches
from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from commands.receipt import CommandReceipt
from domain.forecast import FixtureForecasts
from forecasting.football.model import FootballModelParameters, train_football_model
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.eventstore.coalescer import MAX_BATCH_MESSAGES
from infra.eventstore.publish import Message, publish_atomic
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import RawRecord
from infra.eventstore.subjects import SubjectLayout
from infra.feeds.player import FeedPlayer
from infra.feeds.replay import Replay
from infra.forecasting.model_file import dump_model
from infra.forecasting.service import forecaster_env
from infra.settings import Settings

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))
SINCE = date.fromisoformat(os.environ.get("BENCH_REPLAY_FROM", "2016-01-01"))
UNTIL = date.fromisoformat(os.environ.get("BENCH_REPLAY_TO", "2016-03-31"))
MODE = os.environ.get("BENCH_MODE", "paced")
RATE = float(os.environ.get("BENCH_RATE", "2000"))
DURABILITY = os.environ.get("BENCH_DURABILITY", "fsync")  # the embedded default, or replicated
FEED, PACED, FORECASTS = "BENCH_FEED", "BENCH_PACED", "BENCH_FORECASTS"
RECEIPT_TOPIC = get_topic(CommandReceipt.Issued)
ISSUED = FixtureForecasts.ForecastIssued
_KEPT = {"Nats-Msg-Id"}  # the server's own (sequence, time, batch) are not copied


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


async def stored(
    url: str, stream: str, subject: str, *, limit: int = 10_000_000
) -> list[RawRecord]:
    """The first ``limit`` messages of ``stream`` on ``subject`` (default: every one), in
    order, with the server's headers."""
    nc = await connect_nats(url)
    try:
        reader = DirectReader(nc, stream)
        await reader.start()
        return await reader.batch(subject=subject, start_seq=1, limit=limit, wait=60)
    finally:
        await nc.close()


async def play_paced(url: str, records: list[RawRecord]) -> None:
    """Copy ``records`` into the paced stream, domain events due at RATE per second.

    Whatever is due is sent as one atomic batch, one batch in flight at a time, as the event
    store's group commit does: the server fsyncs each batch, and could not keep up with single
    messages at this rate."""
    source, target = SubjectLayout(FEED).prefix, SubjectLayout(PACED).prefix
    due: list[float] = []
    events = 0
    for record in records:
        if record.headers.get("Es-Topic") != RECEIPT_TOPIC:
            events += 1  # a receipt goes with its command's events
        due.append((events - 1) / RATE)
    messages = [
        Message(
            target + r.subject[len(source) :],
            r.data,
            {k: v for k, v in r.headers.items() if not k.startswith("Nats-") or k in _KEPT},
        )
        for r in records
    ]
    nc = await connect_nats(url)
    started = time.perf_counter()
    i = 0
    while i < len(messages):
        now = time.perf_counter() - started
        if due[i] > now:
            await asyncio.sleep(due[i] - now)
            continue
        j = i + 1
        while j < len(messages) and j - i < MAX_BATCH_MESSAGES and due[j] <= now:
            j += 1
        await publish_atomic(nc, messages[i:j], ack_wait=30)
        i = j
    await nc.close()


def timestamp_ns(record: RawRecord) -> int:
    """Nats-Time-Stamp (RFC 3339 with nanoseconds, UTC) as integer nanoseconds."""
    stamp = record.headers["Nats-Time-Stamp"].rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_forecaster(url: str, model_file: Path, feed_stream: str) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": url,
        **secure.settings_env(),
        "SPORTCAST_STREAM_NAME": feed_stream,
        "SPORTCAST_FORECASTER_STREAM": FORECASTS,
        "SPORTCAST_MODEL_FILE": str(model_file),
        **{
            k[len("BENCH_") :]: v for k, v in os.environ.items() if k.startswith("BENCH_SPORTCAST_")
        },
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "sportcast"), "serve", "forecaster"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # its console
    )
    following = threading.Event()
    said: list[bytes] = []

    def watch(out: IO[bytes]) -> None:  # read it all, or a full pipe would block the process
        for line in out:
            said.append(line)
            if b"following the feed" in line:  # printed once rebuilt and following
                following.set()

    assert process.stderr is not None
    threading.Thread(target=watch, args=(process.stderr,), daemon=True).start()
    SAID[process.pid] = said
    if not following.wait(120):
        process.kill()
        raise RuntimeError(f"the forecaster did not follow the feed in 120 s: {said[-5:]}")
    return process


SAID: dict[int, list[bytes]] = {}  # each forecaster's console, for errors


def wait_caught_up(
    url: str, feed_stream: str, head: int, forecaster: subprocess.Popen[bytes]
) -> None:
    feeds_env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": url, **secure.store_env()}
    reader = Forecaster(forecaster_env({**feeds_env, "NATS_STREAM": feed_stream}, FORECASTS))
    try:
        deadline = time.monotonic() + 600
        while (tracked := reader.recorder.max_tracking_id("feeds") or 0) < head:
            if forecaster.poll() is not None:
                said = b"".join(SAID.get(forecaster.pid, [])[-40:]).decode(errors="replace")
                raise RuntimeError(f"the forecaster exited ({forecaster.returncode}):\n{said}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the forecaster did not catch up in 600 s ({tracked}/{head})")
            time.sleep(0.2)
    finally:
        reader.close()


def lags(url: str, feed_stream: str) -> tuple[list[float], int, dict[int, int]]:
    """Forecast lags (ms), the forecaster's tracking-only writes, feed timestamps by sequence."""
    feed_times = {
        r.seq: timestamp_ns(r)
        for r in asyncio.run(stored(url, feed_stream, SubjectLayout(feed_stream).events))
    }
    forecast_layout = SubjectLayout(FORECASTS)
    written = asyncio.run(stored(url, FORECASTS, forecast_layout.all_subjects))
    times = {r.seq: timestamp_ns(r) for r in written}
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": url,
        "NATS_STREAM": feed_stream,
        **secure.store_env(),
    }
    reader = Forecaster(forecaster_env(env, FORECASTS))
    try:
        out = [
            (times[n.id] - feed_times[event.as_of_position]) / 1e6
            for n in reader.recorder.select_notifications(start=1, limit=10_000_000)
            if isinstance(
                event := reader.mapper.to_domain_event(n), FixtureForecasts.ForecastIssued
            )
        ]
    finally:
        reader.close()
    tracking_subjects = forecast_layout.prefix + ".trk."
    saves_with_events = {
        r.headers.get("Nats-Msg-Id", "").rsplit("-", 1)[0]
        for r in written
        if forecast_layout.is_event(r.subject)
    }
    tracking_only = sum(
        r.subject.startswith(tracking_subjects)
        and r.headers.get("Nats-Msg-Id", "").rsplit("-", 1)[0] not in saves_with_events
        for r in written
    )
    return out, tracking_only, feed_times


def main() -> None:
    print("note: NATS", secure.configure(), "(BENCH_SECURE=1: TLS + NKey users)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.bin"
        model_file.write_bytes(model_bytes())
        server = EmbeddedNats(
            NatsConfig(
                store_dir=Path(tmp) / "nats",
                port=free_port(),
                monitor_port=free_port(),
                sync_always=DURABILITY == "fsync",
                **secure.server_options(),
            )
        )
        server.start()
        settings = Settings(nats_url=server.url, stream_name=FEED, **secure.settings_fields())
        forecaster: subprocess.Popen[bytes] | None = None
        busy = spent = float("nan")
        try:
            if MODE == "concurrent":
                feed_stream = FEED
                FeedIngestion(event_store_env(settings, server.url)).close()
                forecaster = start_forecaster(server.url, model_file, feed_stream)
                events, replay_rate = asyncio.run(replay(server.url, settings))
                head = len(asyncio.run(stored(server.url, FEED, SubjectLayout(FEED).events)))
            else:
                feed_stream = PACED
                events, replay_rate = asyncio.run(replay(server.url, settings))
                records = asyncio.run(stored(server.url, FEED, SubjectLayout(FEED).events))
                head = len(records)
                paced = Settings(nats_url=server.url, stream_name=PACED, **secure.settings_fields())
                FeedIngestion(event_store_env(paced, server.url)).close()  # creates the stream
                forecaster = start_forecaster(server.url, model_file, feed_stream)
                cpu_before, started = cpu_seconds(forecaster.pid), time.monotonic()
                asyncio.run(play_paced(server.url, records))
            assert forecaster is not None
            wait_caught_up(server.url, feed_stream, head, forecaster)
            if MODE != "concurrent":
                spent = cpu_seconds(forecaster.pid) - cpu_before
                busy = spent / (time.monotonic() - started)
            found, tracking_only, feed_times = lags(server.url, feed_stream)
        finally:
            if forecaster is not None:
                forecaster.send_signal(signal.SIGINT)
                forecaster.wait(30)
            server.stop()
    load_after = os.getloadavg()
    stamps = sorted(feed_times.values())
    seconds = (stamps[-1] - stamps[0]) / 1e9
    print(f"peer: none (target: lag p99 < 100 ms at 2,000 events/s); mode {MODE}, {DURABILITY}")
    print(f"load_average_1min_before {load_before[0]:.2f} load")
    print(f"load_average_1min_after {load_after[0]:.2f} load")
    what = "during_forecasting" if MODE == "concurrent" else "untimed_store"
    print(f"replay_rate_{what} {replay_rate:.0f} events/s")
    print(f"feed_events {events} events")
    print(f"feed_messages {head} messages")
    if MODE != "concurrent":
        print(f"paced_target_rate {RATE:.0f} events/s")
    print(f"achieved_feed_rate {events / seconds:.0f} events/s")
    print(f"achieved_message_rate {head / seconds:.0f} messages/s")
    print(f"forecasts_issued {len(found)} forecasts")
    print(f"forecaster_cpu_while_following {busy * 100:.0f} %_of_one_core")
    print(f"forecaster_cpu_seconds_following {spent:.2f} s")
    print(f"tracking_only_writes {tracking_only} writes")
    print(f"forecast_lag_p50 {np.percentile(found, 50):.1f} ms")
    print(f"forecast_lag_p99 {np.percentile(found, 99):.1f} ms")
    print(f"forecast_lag_max {max(found):.1f} ms")


if __name__ == "__main__":
    main()
