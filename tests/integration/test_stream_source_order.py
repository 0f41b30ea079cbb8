"""The SSE hub's upstream (a JetStream stream followed by an ordered consumer) against a real
nats-server: events are translated concurrently and handed on in log order."""

from __future__ import annotations

import asyncio

import nats

from infra.streams.source import JetStreamLog
from infra.streams.translate import Origins, Translator
from readmodels.live import Kind, StreamEvent
from tests.sse_support import Writers, stored_topics

HELD = 5  # the first events whose translations wait until all of them are under way


async def no_lookup(aggregate: str) -> tuple[str, bytes] | None:
    return None


async def test_a_slow_translation_holds_no_later_event_back_nor_reorders_them(
    writers: Writers,
) -> None:
    fixture = writers.fixture("world-cup", "Russia", "Saudi Arabia")
    for minute in range(1, 11):
        await asyncio.to_thread(writers.goal, fixture, minute)
    topics = await stored_topics(writers.nats_url, writers.events_stream)
    stored = [s for s, t in topics if t.startswith("domain.fixture:Fixture.")]

    under_way: list[int] = []
    all_under_way = asyncio.Event()

    class SlowFirst(Translator):
        """Each of the first five events' translation waits (as a lookup would) until all
        five are under way: translated one at a time, the first would wait for good."""

        async def __call__(
            self, seq: int, aggregate: str, topic: str, state: bytes
        ) -> StreamEvent | None:
            if seq in stored[:HELD]:
                under_way.append(seq)
                if len(under_way) == HELD:
                    all_under_way.set()
                await all_under_way.wait()
            return StreamEvent(
                seq, Kind.MATCH_EVENT, "goal", "football", "wc", aggregate, None, b""
            )

    nc = await nats.connect(writers.nats_url)
    try:
        log = JetStreamLog(nc, writers.events_stream, SlowFirst(Origins(no_lookup)))
        got: list[int] = []
        async with asyncio.timeout(60):  # a deadline: only a missing overlap would reach it
            async for seq, event in log.follow(0):
                if event is not None:
                    got.append(seq)
                if seq >= stored[-1]:
                    break
    finally:
        await nc.close()
    assert [s for s in got if s in stored] == stored  # every event, in log order
    assert sorted(under_way) == stored[:HELD]  # the five slow translations overlapped


async def test_concurrent_lookups_of_one_aggregate_ask_the_store_once() -> None:
    asked: list[str] = []

    async def first_event(aggregate: str) -> tuple[str, bytes] | None:
        asked.append(aggregate)
        await asyncio.sleep(0.05)
        return "domain.fixture:Fixture.Scheduled", b'{"sport": "football", "competition": "E0"}'

    origins = Origins(first_event)
    found = await asyncio.gather(*(origins.fixture("f1") for _ in range(20)))
    assert asked == ["f1"]
    assert {(o.sport, o.competition) for o in found} == {("football", "E0")}
    assert (await origins.fixture("f1")).competition == "E0"  # remembered
    assert asked == ["f1"]
