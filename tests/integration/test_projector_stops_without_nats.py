"""`sportcast serve projector` stops within a bound after SIGTERM when its nats-server is gone
(SIGKILLed): reads waiting on the vanished server are given up when the event store's link
closes, the committed positions stay, and the log says that it stopped and where it stood."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from commands.ingestion import FeedIngestion
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from tests.freezing import freeze
from tests.integration.test_store_check import SCHEDULE

SPORTCAST = str(Path(sys.executable).parent / "sportcast")
STOP_WITHIN = 30.0  # generous for a loaded box; the process used to sit for half an hour


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    nats = EmbeddedNats(NatsConfig(store_dir=tmp_path, port=free_port(), monitor_port=free_port()))
    nats.start()
    yield nats
    nats.stop()


async def _position(postgres_url: str) -> int:
    conn = await asyncpg.connect(postgres_url)
    try:
        if not await conn.fetchval("SELECT to_regclass('rm_fixtures.projection_position')"):
            return 0
        found = await conn.fetchval(
            "SELECT position FROM rm_fixtures.projection_position WHERE stream = 'events'"
        )
        return int(found or 0)
    finally:
        await conn.close()


def test_the_projector_stops_in_bounded_time_when_nats_is_gone(
    server: EmbeddedNats, postgres_url: str, tmp_path: Path
) -> None:
    feed = FeedIngestion(
        {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": server.url, "NATS_STREAM": "EVENTS"}
    )
    appending = threading.Event()
    appending.set()

    def append() -> None:  # the projector reads while the server goes away
        for i in itertools.count():
            if not appending.is_set():
                return
            try:
                feed.handle(replace(SCHEDULE, idempotency_key=f"s{i}", home=f"Team {i}"))
            except Exception:
                return  # the server is gone

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": server.url,
        "SPORTCAST_POSTGRES_URL": postgres_url,
        "SPORTCAST_STREAM_NAME": "EVENTS",
        "SPORTCAST_STATE_DIR": str(tmp_path / "state"),
        "SPORTCAST_PROJECTOR_PAGE_EVENTS": "5",  # reads in flight most of the time
    }
    log = tmp_path / "projector.log"
    appender = threading.Thread(target=append)
    with log.open("wb") as out:
        projector = subprocess.Popen(
            [SPORTCAST, "serve", "projector"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        appender.start()
        deadline = time.monotonic() + 90
        while asyncio.run(_position(postgres_url)) < 50:
            assert projector.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the projector did not apply 50 events"
            time.sleep(0.2)
        freeze(server.pid or 0)  # silent mid-read: nothing answered, nothing closed
        appending.clear()
        time.sleep(2.0)  # the projections poll meanwhile, into the silent server
        projector.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        try:
            code = projector.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_WITHIN:g} s after SIGTERM:\n{log.read_text()}")
        took = time.monotonic() - asked
    finally:
        appending.clear()
        server.kill()  # (a frozen process dies of SIGKILL too)
        appender.join(60)
        if projector.poll() is None:
            projector.kill()
            projector.wait(10)
        feed.close()
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text, text
    stopped = re.search(r"projector stopped.*fixtures events (\d+)", text)
    assert stopped is not None, text
    assert asyncio.run(_position(postgres_url)) == int(stopped[1]) >= 50
    print(f"stopped {took:.1f} s after SIGTERM")
