"""The latest-forecast copies: kept only when read after the last announced commit of their
fixture, dropped by a commit naming their fixture (or none), or by a reading of the projections
showing a commit no notice announced; not served without a recent reading."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from gateway.api.latest import LatestCache
from readmodels.postgres.positions import NOTIFIED_KEYS, CommitNotice, commit_notice
from readmodels.postgres.queries import ForecastRow

FIXTURE = UUID("00000000-0000-0000-0000-0000000000e0")
OTHER = UUID("00000000-0000-0000-0000-0000000000e1")
KICKOFF = datetime(2026, 12, 5, 15, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def row(position: int) -> ForecastRow:
    values: dict[str, Any] = {
        "fixture_id": FIXTURE,
        "model_kind": "football-1x2",
        "position": position,
        "version": 1,
        "issued_at": KICKOFF,
        "kickoff": KICKOFF,
        "trigger": "odds",
        "model_id": "m",
        "artifact_hash": "sha256:x",
        "market": "1x2",
        "outcomes": ["home", "draw", "away"],
        "probabilities": [0.5, 0.3, 0.2],
        "market_probabilities": [0.5, 0.3, 0.2],
        "edge": [0.0, 0.0, 0.0],
        "as_of_position": position,
        "features": None,
    }
    return ForecastRow(**{k: v for k, v in values.items() if k in ForecastRow.__dataclass_fields__})


def reading(oid: int, position: int) -> tuple[tuple[str, int, str], ...]:
    """A watcher's reading: the forecasts schema's oid and its one stream's position."""
    return (("forecasts", oid, f"forecasts:{position}"),)


def kept(cache: LatestCache, position: int = 1, *, epoch: int | None = None) -> None:
    cache.put(
        FIXTURE, "football", "E0", [row(position)], epoch=cache.epoch if epoch is None else epoch
    )


def test_a_copy_carries_its_encoded_answer_and_headers() -> None:
    cache = LatestCache(60)
    kept(cache, 7)
    found = cache.get(FIXTURE)
    assert found is not None
    assert found.etag == '"lf-1-7"'
    raw = dict(found.raw_ok)
    assert raw[b"etag"] == b'"lf-1-7"'
    assert raw[b"content-length"] == str(len(found.body)).encode()
    assert raw[b"content-type"] == b"application/json"
    assert raw[b"cache-control"] == b"private, no-cache"
    assert b"content-length" not in dict(found.raw_not_modified)


def test_a_read_that_began_before_an_announced_commit_is_not_kept() -> None:
    cache = LatestCache(60)
    before = cache.epoch
    cache.on_commit("forecasts forecasts 12")  # the commit lands while the read is in flight
    kept(cache, 1, epoch=before)
    assert cache.get(FIXTURE) is None
    kept(cache, 2)
    assert cache.get(FIXTURE) is not None


def test_commits_of_the_answers_projections_drop_the_copies_others_do_not() -> None:
    cache = LatestCache(60)
    kept(cache)
    cache.on_commit("odds events 7")
    assert cache.get(FIXTURE) is not None
    cache.on_commit("fixtures events 8")  # names no fixture: it may have changed any
    assert cache.get(FIXTURE) is None


def test_a_commit_naming_fixtures_drops_only_theirs() -> None:
    cache = LatestCache(60)
    kept(cache)
    cache.on_commit(f"forecasts forecasts 9 {OTHER}")
    cache.on_commit("fixtures events 10 -")  # changed nothing
    assert cache.get(FIXTURE) is not None
    cache.on_commit(f"forecasts forecasts 11 {OTHER},{FIXTURE}")
    assert cache.get(FIXTURE) is None
    cache.on_commit("forecasts forecasts 12 not-a-fixture")  # not understood: drop all
    assert cache.epoch == 3


def test_a_read_across_a_commit_of_another_fixture_is_kept() -> None:
    cache = LatestCache(60)
    before = cache.epoch
    cache.on_commit(f"forecasts forecasts 12 {OTHER}")
    kept(cache, 1, epoch=before)
    assert cache.get(FIXTURE) is not None
    before = cache.epoch
    cache.on_commit(f"forecasts forecasts 13 {FIXTURE}")
    kept(cache, 2, epoch=before)
    assert cache.get(FIXTURE) is None  # its own commit: served once, not kept


def test_a_reading_with_an_unannounced_commit_drops_the_copies_and_no_reading_serves_none() -> None:
    clock = Clock()
    cache = LatestCache(60, clock=clock)
    cache.await_readings()  # a watcher starts
    kept(cache)
    assert cache.get(FIXTURE) is None  # not before its first reading
    assert cache.unannounced(reading(1, 5))  # the first reading
    cache.confirm(reading(1, 5), until=clock.now + 2)
    kept(cache)
    cache.confirm(reading(1, 5), until=clock.now + 2)
    assert cache.get(FIXTURE) is not None  # nothing committed in between
    cache.on_commit(f"forecasts forecasts 6 {OTHER}")
    assert not cache.unannounced(reading(1, 6))
    cache.confirm(reading(1, 6), until=clock.now + 2)
    assert cache.get(FIXTURE) is not None  # announced, and not this fixture's
    assert cache.unannounced(reading(1, 7))
    cache.confirm(reading(1, 7), until=clock.now + 2)  # a NOTIFY was lost
    assert cache.get(FIXTURE) is None
    kept(cache)
    cache.confirm(reading(2, 7), until=clock.now + 2)  # a rebuild switched
    assert cache.get(FIXTURE) is None
    kept(cache)
    clock.now += 1.9
    assert cache.get(FIXTURE) is not None
    clock.now += 0.2  # no reading confirmed since: serve from PostgreSQL
    assert cache.get(FIXTURE) is None
    cache.confirm(reading(2, 7), until=clock.now + 2)
    assert cache.get(FIXTURE) is not None  # the same reading: the copy is good again


def test_a_commit_notice_names_its_fixtures_up_to_a_bound() -> None:
    assert commit_notice("forecasts", "forecasts", 3, {"b", "a"}) == "forecasts forecasts 3 a,b"
    assert commit_notice("forecasts", "forecasts", 4, set()) == "forecasts forecasts 4 -"
    assert commit_notice("odds", "events", 5) == "odds events 5"
    assert commit_notice("f", "s", 6, {str(i) for i in range(NOTIFIED_KEYS + 1)}) == "f s 6"
    parsed = CommitNotice.parse("forecasts forecasts 3 a,b")
    assert (parsed.position, parsed.keys) == (3, frozenset({"a", "b"}))
    assert CommitNotice.parse("odds events 5").keys is None
    assert CommitNotice.parse("fixtures events 4 -").keys == frozenset()


def test_copies_live_at_most_the_ttl_and_zero_keeps_none() -> None:
    clock = Clock()
    cache = LatestCache(60, clock=clock)
    kept(cache)
    clock.now += 44.9
    assert cache.get(FIXTURE) is not None  # each copy lives between 45 and 60 s
    clock.now += 15.1
    assert cache.get(FIXTURE) is None
    none = LatestCache(0)
    kept(none)
    assert none.get(FIXTURE) is None


async def settled() -> None:
    """Let every task ready to run take its steps (a few turns of the event loop)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_read_however_many_ask_and_none_joined_across_a_commit() -> None:
    cache = LatestCache(60)
    release = asyncio.Event()
    reads: list[UUID] = []

    async def read(fixture: UUID) -> tuple[str, str, list[ForecastRow]]:
        reads.append(fixture)
        position = len(reads)
        await release.wait()
        return "football", "E0", [row(position)]

    together = [asyncio.create_task(cache.loaded(FIXTURE, read)) for _ in range(5)]
    await settled()
    assert len(reads) == 1
    cache.on_commit(f"forecasts forecasts 9 {FIXTURE}")  # while the read is under way
    late = asyncio.create_task(cache.loaded(FIXTURE, read))
    await settled()
    assert len(reads) == 2  # it does not join a read that began before the commit
    release.set()
    *early, after = await asyncio.gather(*together, late)
    assert {a.etag for a in early if a is not None} == {'"lf-1-1"'}
    assert after is not None
    assert after.etag == '"lf-1-2"'
    found = cache.get(FIXTURE)
    assert found is not None
    assert found.etag == '"lf-1-2"'  # the read from before the commit was not kept


async def test_a_copy_a_commit_dropped_is_read_again_at_once() -> None:
    cache = LatestCache(60)
    reads: list[UUID] = []
    asked = asyncio.Event()

    async def read(fixture: UUID) -> tuple[str, str, list[ForecastRow]]:
        reads.append(fixture)
        asked.set()
        return "football", "E0", [row(8)]

    cache.refills_from(read)
    kept(cache, 7)
    cache.on_commit(f"forecasts forecasts 8 {FIXTURE},{OTHER}")  # OTHER had no copy
    assert cache.get(FIXTURE) is None
    async with asyncio.timeout(10):
        await asked.wait()
    await settled()
    found = cache.get(FIXTURE)
    assert found is not None
    assert found.etag == '"lf-1-8"'
    assert reads == [FIXTURE]


def test_no_copy_is_kept_while_notices_are_lost_nor_one_read_before_they_resume() -> None:
    cache = LatestCache(60.0)
    kept(cache)
    cache.notices_lost()
    assert cache.get(FIXTURE) is None  # a commit now would go unannounced
    kept(cache)
    assert cache.get(FIXTURE) is None
    began_while_deaf = cache.epoch
    cache.notices_resumed()
    kept(cache, epoch=began_while_deaf)  # may predate a commit made while deaf
    assert cache.get(FIXTURE) is None
    kept(cache, 2)
    found = cache.get(FIXTURE)
    assert found is not None
    assert found.etag == '"lf-1-2"'
