"""The latest-forecast copies: kept only when read after the last announced commit, dropped on
a commit or a changed reading of the projections, not served without a recent reading."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from gateway.api.latest import LatestCache
from readmodels.postgres.queries import ForecastRow

FIXTURE = UUID("00000000-0000-0000-0000-0000000000e0")
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
    cache.on_commit("fixtures events 8")
    assert cache.get(FIXTURE) is None


def test_a_changed_reading_drops_the_copies_and_no_reading_serves_none() -> None:
    clock = Clock()
    cache = LatestCache(60, clock=clock)
    cache.await_readings()  # a watcher starts
    kept(cache)
    assert cache.get(FIXTURE) is None  # not before its first reading
    cache.confirm(("forecasts", 1, "forecasts:5"), until=clock.now + 2)
    kept(cache)
    cache.confirm(("forecasts", 1, "forecasts:5"), until=clock.now + 2)
    assert cache.get(FIXTURE) is not None  # nothing committed in between
    cache.confirm(("forecasts", 1, "forecasts:6"), until=clock.now + 2)  # a NOTIFY was lost
    assert cache.get(FIXTURE) is None
    kept(cache)
    clock.now += 1.9
    assert cache.get(FIXTURE) is not None
    clock.now += 0.2  # no reading confirmed since: serve from PostgreSQL
    assert cache.get(FIXTURE) is None
    cache.confirm(("forecasts", 1, "forecasts:6"), until=clock.now + 2)
    assert cache.get(FIXTURE) is not None  # the same reading: the copy is good again


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
