"""A NATS outage is logged once per change of state, not once per reconnect attempt, and with no
traceback (issue 13, item 6), on a real nats-server stopped and started again: a connection
from :func:`connect_nats` and the event store's link (nats-py plus our own read and write
connections) each say once that they lost NATS and once that they are back."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from commands.ingestion import FeedIngestion
from gateway.streams.hub import Hub, HubSettings
from gateway.streams.metrics import StreamMetrics
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats
from infra.eventstore.wire_protocol import WireError
from infra.eventstore.wire_publish import WirePublisher
from infra.streams.source import JetStreamLog, event_logs
from readmodels.live import Log, LogUnavailable, StreamEvent
from tests.freezing import freeze
from tests.integration.test_store_check import SCHEDULE
from tests.own_nats import own_nats

OUTAGE_SECONDS = 3.0  # reconnects come every 0.1-0.5 s: a line per attempt would be dozens


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with own_nats(tmp_path, sync_always=True) as nats:
        yield nats


def feed_on(server: EmbeddedNats) -> FeedIngestion:
    return FeedIngestion(
        {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": server.url, "NATS_STREAM": "EVENTS"}
    )


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("sportcast")]


async def test_an_outage_is_one_line_when_lost_and_one_when_back_without_traceback(
    server: EmbeddedNats, caplog: pytest.LogCaptureFixture
) -> None:
    app = await asyncio.to_thread(feed_on, server)
    nc = await connect_nats(server.url, name="probe")

    def saying(words: str) -> int:
        return sum(words in r.getMessage() for r in ours(caplog))

    try:
        await asyncio.to_thread(app.handle, SCHEDULE)  # opens the write and read paths
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(server.start)
            await until(lambda: nc.is_connected, "reconnected", 30)
            await asyncio.to_thread(app.repository.get, SCHEDULE.fixture_id)  # the store is back
            # Every connection that said it lost NATS has said it is back (each in its own time).
            await until(
                lambda: saying("reconnected to NATS") >= saying("lost its NATS") >= 2,
                "all back",
                30,
            )
        records = ours(caplog)
    finally:
        await nc.close()
        await asyncio.to_thread(app.close)
    text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in records)
    assert [r for r in records if r.exc_info] == [], text
    lost = [r for r in records if "lost its NATS connection" in r.getMessage()]
    back = [r for r in records if "reconnected to NATS" in r.getMessage()]
    assert sum("probe" in r.getMessage() for r in lost) == 1, text
    assert sum("probe" in r.getMessage() for r in back) == 1, text
    assert len(lost) == len(back) >= 2, text  # the probe and the event store's link
    others = [r for r in records if r.levelno >= logging.WARNING and r not in lost + back]
    # Nothing else per attempt: at most one more line per connection for the whole outage.
    assert len(others) <= len(lost), text


def test_a_handshake_that_never_completes_leaves_no_unretrieved_error(
    server: EmbeddedNats, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that accepts the connection but never answers (stopped, or going away at
    shutdown): the publisher's connect fails, and nothing is left for asyncio to report."""
    process = server._process
    assert process is not None
    loop = asyncio.new_event_loop()
    publisher = WirePublisher(server.url, loop)
    freeze(process.pid)  # the kernel still accepts connections for it
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(WireError):
            loop.run_until_complete(publisher.connect(each=0.5))
        publisher.close()
        loop.run_until_complete(asyncio.sleep(0.1))  # the aborted connection reports its loss
    finally:
        os.kill(process.pid, signal.SIGCONT)
        loop.close()
    with caplog.at_level(logging.DEBUG):
        del publisher
        gc.collect()
    unretrieved = [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert unretrieved == [], [r.getMessage() for r in unretrieved]


class HeldLog:
    """A real log whose follows wait for ``released`` and whose outages are counted.

    The test releases them once the server is down, so each follow meets the outage from its
    start: an ordered consumer already subscribed rides an outage out in nats-py without a
    word, and whether the hub got that far before the server stopped was a race.
    """

    def __init__(self, log: JetStreamLog, released: asyncio.Event) -> None:
        self.log = log
        self.released = released
        self.outages = 0

    async def bounds(self) -> tuple[int, int]:
        return await self.log.bounds()

    async def read(self, *, after: int, up_to: int, limit: int) -> tuple[list[StreamEvent], int]:
        return await self.log.read(after=after, up_to=up_to, limit=limit)

    async def follow(self, after: int) -> AsyncIterator[tuple[int, StreamEvent | None]]:
        await self.released.wait()
        try:
            async for item in self.log.follow(after):
                yield item
        except LogUnavailable:
            self.outages += 1
            raise


async def until(condition: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.1)


async def test_the_stream_hub_says_once_that_it_cannot_follow_while_nats_is_down(
    server: EmbeddedNats, caplog: pytest.LogCaptureFixture
) -> None:
    app = await asyncio.to_thread(feed_on, server)
    await asyncio.to_thread(app.handle, SCHEDULE)
    nc = await connect_nats(server.url, name="gateway")
    released = asyncio.Event()
    events, forecasts = (
        HeldLog(lg, released)
        for lg in event_logs(nc, events_stream="EVENTS", forecasts_stream="FORECASTS")
    )
    hub = Hub({Log.EVENTS: events, Log.FORECASTS: forecasts}, HubSettings(), StreamMetrics(None))
    await hub.start()
    head = hub.heads[Log.EVENTS]
    try:
        with caplog.at_level(logging.DEBUG):
            await asyncio.to_thread(server.stop)
            released.set()
            # Each log's follow fails (a JetStream request times out), again a second later...
            await until(lambda: min(events.outages, forecasts.outages) >= 2, "two outages", 60)
            await asyncio.to_thread(server.start)
            await until(lambda: nc.is_connected, "reconnected", 30)
            # ...until a message shows that the events log is followed again.
            await nc.jetstream().publish("es.EVENTS.evt.probe", b"{}", stream="EVENTS")
            await until(lambda: hub.heads[Log.EVENTS] > head, "followed again", 30)
        records = [r for r in caplog.records if r.name == "sportcast.streams"]
    finally:
        await hub.stop()
        await nc.close()
        await asyncio.to_thread(app.close)
    text = "\n".join(f"{r.levelname} {r.getMessage()}" for r in records)
    assert [r for r in records if r.exc_info] == [], text
    for lg in ("events", "forecasts"):  # each failed at least twice, said once
        assert sum(f"cannot follow the {lg} log" in r.getMessage() for r in records) == 1, text
    assert sum("following the events log again" in r.getMessage() for r in records) == 1, text
