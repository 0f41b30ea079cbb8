"""A damaged store is found at start and on demand, and a save that meets it is a problem with
a code (issue 13, item 7): one byte of a real nats-server's block file flipped, as the tester
did."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest

from commands.fixture import RecordGoal, StartFixture
from commands.ingestion import FeedIngestion
from domain.provenance import Provenance
from domain.sport import Side
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats
from infra.settings import Settings
from infra.store_check import HeadBook, StoreCheck, check_streams, keep_heads, run_store_check
from tests.http_ingest import A, ingest_client
from tests.integration.test_ingestion_on_jetstream import KICKOFF
from tests.integration.test_ingestion_on_jetstream import SCHEDULE as RUSSIA_V_SAUDI
from tests.own_nats import own_nats

pytestmark = pytest.mark.slow

FEED = Provenance(source="prov-a", received_at=KICKOFF)
SCHEDULE = replace(RUSSIA_V_SAUDI, idempotency_key="prov-a:s", provenance=FEED)
STREAM = "EVENTS"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with own_nats(tmp_path / "nats", sync_always=True) as nats:
        yield nats


def marker(n: int) -> str:
    return f"Scorer-{n:03d}-Marker"


def play_a_match(url: str) -> UUID:
    app = FeedIngestion(
        {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": url, "NATS_STREAM": STREAM}
    )
    try:
        app.handle(SCHEDULE)
        app.handle(
            StartFixture(
                idempotency_key="prov-a:k", provenance=FEED, fixture_id=SCHEDULE.fixture_id
            )
        )
        for n in range(1, 21):
            goal = RecordGoal(
                idempotency_key=f"prov-a:g{n}",
                provenance=FEED,
                fixture_id=SCHEDULE.fixture_id,
                side=Side.HOME,
                minute=n,
                player=marker(n),
            )
            app.handle(goal)
    finally:
        app.close()
    return SCHEDULE.fixture_id


def flip_a_byte_of(server: EmbeddedNats, needle: str) -> None:
    [block] = sorted(server.config.store_dir.rglob(f"streams/{STREAM}/msgs/*.blk"))
    data = bytearray(block.read_bytes())
    at = data.index(needle.encode())
    data[at + 3] ^= 0xFF
    block.write_bytes(bytes(data))


def check(server: EmbeddedNats, book: HeadBook, *, full: bool = False) -> StoreCheck:
    async def run() -> StoreCheck:
        nc = await connect_nats(server.url)
        try:
            return await check_streams(
                nc, [STREAM], book.load(), chained=[STREAM], full=full, url=server.url
            )
        finally:
            await nc.close()

    return asyncio.run(run())


def test_a_stream_cut_short_by_a_damaged_block_is_found_at_start(
    server: EmbeddedNats, tmp_path: Path
) -> None:
    play_a_match(server.url)
    book = HeadBook(tmp_path / "heads.json")
    whole = check(server, book)
    assert whole.ok, whole.problems
    keep_heads(book, whole)
    server.kill()  # no clean shutdown: the server rebuilds its index from the blocks
    flip_a_byte_of(server, marker(5))
    server.start()
    damaged = check(server, book)
    assert [p.kind for p in damaged.problems] == ["truncated"], damaged.problems
    assert "acknowledged messages are gone" in damaged.problems[0].detail
    keep_heads(book, damaged)  # the damaged stream's recorded head is kept ...
    assert [p.kind for p in check(server, book).problems] == [
        "truncated"
    ]  # ... so it is seen again


def test_a_message_the_server_skips_is_found_by_the_full_check_and_a_save_is_a_problem(
    server: EmbeddedNats, tmp_path: Path
) -> None:
    fixture = play_a_match(server.url)
    book = HeadBook(tmp_path / "heads.json")
    keep_heads(book, check(server, book))
    server.stop()
    flip_a_byte_of(server, marker(10))
    server.start()
    full = check(server, book, full=True)
    assert "missing-sequence" in {p.kind for p in full.problems}, full.problems

    with ingest_client(server.url, STREAM) as api:
        goal = {
            "type": "goal",
            "event_id": "late",
            "fixture_id": str(fixture),
            "side": "away",
            "minute": 88,
        }
        response = api.http.post("/feeds/match-events", json=goal, headers=A)
        assert response.status_code == 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "aggregate-damaged"
        assert api.held(problem["quarantine_seq"]).reason_code == "aggregate-damaged"


def test_a_message_skipped_after_a_clean_stop_is_found_by_the_quick_check_at_start(
    server: EmbeddedNats, tmp_path: Path
) -> None:
    play_a_match(server.url)
    settings = Settings(state_dir=tmp_path, stream_name=STREAM)
    assert run_store_check(settings, server.url).ok
    server.stop()
    server.start()  # a clean stop and start change nothing: no false alarm
    assert run_store_check(settings, server.url).ok
    server.stop()
    flip_a_byte_of(server, marker(10))
    server.start()
    # The server's own account is unchanged: its index still counts the damaged message.
    state = check(server, HeadBook(tmp_path / "none.json"))
    assert state.ok, state.problems
    found = run_store_check(settings, server.url)
    assert [(p.stream, p.kind) for p in found.problems] == [(STREAM, "file-changed")]
    assert ".blk changed while the server was stopped" in found.problems[0].detail
    server.stop()
    server.start()  # reported at every start until someone accepts it
    assert [p.kind for p in run_store_check(settings, server.url).problems] == ["file-changed"]
