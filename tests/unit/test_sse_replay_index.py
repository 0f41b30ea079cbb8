"""The replay buffer's index by fixture, competition and sport: a narrow resume reads its own
events only, and sends exactly what a look at the whole buffer would."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.streams import hub as hub_module
from gateway.streams.endpoints import ENDPOINTS
from gateway.streams.filters import Filter
from gateway.streams.hub import Hub
from readmodels.live import Kind, Log, StreamEvent
from tests.unit.test_sse_fanout import hub, subscriber

FIXTURES = [f"f{i}" for i in range(12)]


def event(seq: int, rng: random.Random, kind: Kind) -> StreamEvent:
    i = rng.randrange(len(FIXTURES))
    sport = "football" if i % 3 else "basketball"
    model = "m1" if kind is Kind.FORECAST else None
    return StreamEvent(seq, kind, kind.value, sport, f"c{i % 4}", FIXTURES[i], model, b"{}")


def filled(seed: int, events: int = 600, buffer_events: int = 200) -> Hub:
    """Both logs interleaved at random; the buffer keeps the last ``buffer_events`` of each."""
    rng = random.Random(seed)
    h = hub(buffer_events=buffer_events, flush_seconds=0)
    seqs = {Log.EVENTS: 0, Log.FORECASTS: 0}
    for _ in range(events):
        lg = rng.choice([Log.EVENTS, Log.FORECASTS])
        seqs[lg] += 1
        kind = Kind.FORECAST if lg is Log.FORECASTS else Kind.ODDS
        h.publish(lg, seqs[lg], event(seqs[lg], rng, kind) if rng.random() > 0.05 else None)
    return h


FILTERS = [
    Filter(fixtures=frozenset({"f3"})),
    Filter(fixtures=frozenset({"f1", "f7"})),
    Filter(competitions=frozenset({"c2"})),
    Filter(sports=frozenset({"basketball"})),
    Filter(fixtures=frozenset({"f5"}), competitions=frozenset({"c0"})),  # f5 is in c1: none
    Filter(competitions=frozenset({"c1", "c3"}), sports=frozenset({"football"})),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("endpoint", ["odds", "all"])
def test_a_narrow_resume_sends_what_a_look_at_the_whole_buffer_sends(
    seed: int, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = filled(seed)
    ep = ENDPOINTS[endpoint]
    rng = random.Random(seed)
    lowest = {lg: h.buffer_from[lg] for lg in Log}
    for flt in FILTERS:
        for _ in range(10):
            position = {lg: rng.randint(lowest[lg], h.heads[lg]) for lg in ep.logs}
            narrow = subscriber(flt, endpoint)
            h.join(narrow, ep, dict(position))
            with monkeypatch.context() as whole:
                whole.setattr(hub_module, "_narrow", lambda _: None)
                everything = subscriber(flt, endpoint)
                h.join(everything, ep, dict(position))
            assert narrow.pending == everything.pending
            h.leave(narrow)
            h.leave(everything)


@pytest.mark.parametrize("endpoint", ["odds", "all"])
async def test_a_narrow_resume_in_pieces_then_joining_sends_what_a_whole_look_sends(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = filled(7, events=3000, buffer_events=2000)
    ep = ENDPOINTS[endpoint]

    async def resumed() -> bytes:
        position = {lg: h.buffer_from[lg] for lg in ep.logs}
        sub = subscriber(Filter(fixtures=frozenset({"f3"})), endpoint)
        pieces: list[bytes] = []

        async def send(chunk: bytes) -> None:
            pieces.append(chunk)

        assert h.must_catch_up(ep, position)
        await h.catch_up(sub, ep, position, send)
        h.join(sub, ep, position)
        h.leave(sub)
        return b"".join([*pieces, *sub.pending])

    narrow = await resumed()
    monkeypatch.setattr(hub_module, "_narrow", lambda _: None)
    assert narrow == await resumed()
    assert narrow.count(b"id: ") > 50


def test_the_index_keeps_exactly_the_buffered_events_of_each_key() -> None:
    h = filled(3, events=2000, buffer_events=150)
    for lg in Log:
        buffered = list(h.buffers[lg])
        for (name, value), entries in h.keyed[lg].items():
            want = [e for e in buffered if getattr(e.event, name) == value]
            assert list(entries) == want
        filed = sum(len(v) for v in h.keyed[lg].values())
        assert filed == 3 * len(buffered)  # each event under its fixture, competition, sport


def test_a_narrow_look_visits_only_its_own_events() -> None:
    h = filled(5, events=2000, buffer_events=1000)
    own = [e for e in h.buffers[Log.EVENTS] if e.event.fixture == "f3"]
    assert 0 < len(own) < len(h.buffers[Log.EVENTS]) / 5
    visited = list(h._after(Log.EVENTS, 0, ("fixture", frozenset({"f3"}))))
    assert visited == own


@pytest.mark.parametrize("endpoint", ["odds", "all"])
async def test_a_resume_whose_events_are_all_old_catches_up_past_the_others(endpoint: str) -> None:
    """Nothing for it after its last event: it still moves past every buffered event (else the
    catch-up would never reach the join)."""
    h = hub(buffer_events=5000, flush_seconds=0)
    rng = random.Random(1)
    for seq in range(1, 3001):
        e = event(seq, rng, Kind.ODDS)
        fixture = "gone" if seq <= 20 else e.fixture
        h.publish(Log.EVENTS, seq, StreamEvent(seq, e.kind, e.type, "s", "c", fixture, None, b""))
        h.publish(Log.FORECASTS, seq, None)
    ep = ENDPOINTS[endpoint]
    position = {lg: 0 for lg in ep.logs}
    sub = subscriber(Filter(fixtures=frozenset({"gone"})), endpoint)
    pieces: list[bytes] = []

    async def send(chunk: bytes) -> None:
        pieces.append(chunk)

    async with asyncio.timeout(10):
        await h.catch_up(sub, ep, position, send)
    assert position[Log.EVENTS] == 3000
    h.join(sub, ep, position)
    assert b"".join([*pieces, *sub.pending]).count(b"id: ") == 20
