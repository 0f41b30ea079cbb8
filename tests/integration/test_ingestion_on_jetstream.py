"""The ingestion service on the real JetStream event store: two processes' worth of writers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from commands.fixture import RecordGoal, ScheduleFixture, StartFixture
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport

KICKOFF = datetime(2018, 6, 14, 15, 0, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF)
SCHEDULE = ScheduleFixture(
    idempotency_key="s",
    provenance=FEED,
    sport=Sport.FOOTBALL,
    competition="world-cup",
    season="2018",
    home="Russia",
    away="Saudi Arabia",
    kickoff=KICKOFF,
)
FID = SCHEDULE.fixture_id


@pytest.fixture
def apps(nats_url: str, unique_name: str) -> Iterator[tuple[FeedIngestion, FeedIngestion]]:
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": unique_name,
    }
    first, second = FeedIngestion(env), FeedIngestion(env)
    yield first, second
    first.close()
    second.close()


def goal(n: int, side: Side = Side.HOME) -> RecordGoal:
    return RecordGoal(
        idempotency_key=f"goal-{n}", provenance=FEED, fixture_id=FID, side=side, minute=n
    )


def test_a_stale_cache_in_one_writer_is_caught_and_refreshed(
    apps: tuple[FeedIngestion, FeedIngestion],
) -> None:
    a, b = apps
    a.handle(SCHEDULE)
    a.handle(StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID))
    b.handle(goal(5))  # b has never seen the fixture: it reads it, then caches its own write
    a.handle(goal(12, Side.AWAY))  # a's cached fixture is stale: the store refuses, a re-reads
    fixture = b.repository.get(FID)
    assert isinstance(fixture, Fixture)
    assert fixture.score == Score(1, 1)
    assert fixture.version == 4


def test_concurrent_duplicates_from_two_writers_store_each_goal_once(
    apps: tuple[FeedIngestion, FeedIngestion],
) -> None:
    a, b = apps
    a.handle(SCHEDULE)
    a.handle(StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FID))
    commands = [goal(n) for n in range(1, 11)]
    # every goal is sent by both writers at once
    work = [(writer, c) for c in commands for writer in (a, b)]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda wc: wc[0].handle(wc[1]), work))
    assert sum(not o.duplicate for o in outcomes) == 10
    fixture = a.repository.get(FID)
    assert isinstance(fixture, Fixture)
    assert fixture.score == Score(10, 0)
