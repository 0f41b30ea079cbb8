"""The fixtures read model shows where a fixture is played: the venue and the country the feed's
Fixture.Scheduled/Rescheduled (version 2) name, and NULL for an event stored before the country
existed (version 1, as older code stored it). Real nats-server and PostgreSQL: the live
projection, its rebuild, the read model migrated from an older schema, and the REST shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import psycopg
import pytest
from yoyo import get_backend, read_migrations

from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.provenance import Provenance
from domain.sport import Sport
from gateway.api.public import fixture_public
from infra.projections.logs import StoreEventLog
from projections.fixtures import FixturesProjection
from projections.rebuild import rebuild
from readmodels.postgres import queries
from readmodels.postgres.migrate import migration_dirs, yoyo_url
from readmodels.postgres.schemas import live_schema
from tests.projecting import project

KICKOFF = datetime(2018, 6, 14, 15, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF - timedelta(days=30))


@pytest.fixture
def env(nats_url: str, unique_name: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": unique_name,
    }


@pytest.fixture
def ingestion(env: dict[str, str]) -> Iterator[FeedIngestion]:
    app = FeedIngestion(env)
    yield app
    app.close()


def schedule(home: str, away: str, venue: str | None, country: str | None) -> Fixture:
    return Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="world-cup-2018",
        season="2018",
        home=home,
        away=away,
        kickoff=KICKOFF,
        venue=venue,
        venue_country=country,
        provenance=FEED,
    )


def store(ingestion: FeedIngestion, fixture: Fixture, *, as_version_1: bool = False) -> None:
    """Store ``fixture``'s pending events; ``as_version_1``: as code before the venue country
    stored them (no ``venue_country`` key, no ``class_version``)."""
    stored = [ingestion.mapper.to_stored_event(e) for e in fixture.collect_events()]
    if as_version_1:
        edited = []
        for s in stored:
            state = json.loads(s.state)
            assert state.pop("class_version") == 2
            del state["venue_country"]
            edited.append(
                s.__class__(
                    s.originator_id, s.originator_version, s.topic, json.dumps(state).encode()
                )
            )
        stored = edited
    ingestion.recorder.insert_events(stored)


def test_the_venue_country_is_projected_and_rebuilt_null_for_a_version_1_event(
    env: dict[str, str], ingestion: FeedIngestion, postgres_url: str
) -> None:
    opener = schedule("Russia", "Saudi Arabia", "Luzhniki Stadium, Moscow", "Russia")
    store(ingestion, opener)
    moved = schedule("Spain", "Portugal", "Fisht Stadium, Sochi", "Russia")
    store(ingestion, moved)
    moved.reschedule(KICKOFF + timedelta(days=2), "Wembley Stadium, London", FEED, "England")
    store(ingestion, moved)
    old = schedule("Egypt", "Uruguay", "Central Stadium, Yekaterinburg", None)
    store(ingestion, old, as_version_1=True)
    neutral = schedule("Peru", "Denmark", None, None)
    store(ingestion, neutral)
    old_move = schedule("France", "Australia", "Kazan Arena, Kazan", "Russia")
    store(ingestion, old_move)
    old_move.reschedule(KICKOFF + timedelta(days=1), "Kazan Arena, Kazan", FEED)
    store(ingestion, old_move, as_version_1=True)  # a version-1 move names no country

    status = project({"events": env}, postgres_url, ["fixtures"], page_size=2)
    assert all(s["state"] == "live" for s in status), status

    async def read() -> list[queries.FixtureRow]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return await queries.list_fixtures(conn, limit=100)
        finally:
            await conn.close()

    rows = asyncio.run(read())
    by_id = {r.fixture_id: r for r in rows}
    expected = {
        opener.id: ("Luzhniki Stadium, Moscow", "Russia"),
        moved.id: ("Wembley Stadium, London", "England"),
        old.id: ("Central Stadium, Yekaterinburg", None),
        neutral.id: (None, None),
        old_move.id: ("Kazan Arena, Kazan", None),
    }
    assert {f: (r.venue, r.venue_country) for f, r in by_id.items()} == expected
    for fixture_id, row in by_id.items():  # what the aggregate says after upcasting
        aggregate: Fixture = ingestion.repository.get(fixture_id)
        assert (row.venue, row.venue_country) == (aggregate.venue, aggregate.venue_country)
    shown = fixture_public(by_id[opener.id]).model_dump()
    assert (shown["venue"], shown["venue_country"]) == ("Luzhniki Stadium, Moscow", "Russia")
    assert fixture_public(by_id[old.id]).model_dump()["venue_country"] is None

    async def rebuilt() -> list[queries.FixtureRow]:
        log = await asyncio.to_thread(StoreEventLog, "events", env)
        try:
            await rebuild(FixturesProjection, {"events": log}, postgres_url, page_size=3)
        finally:
            await asyncio.to_thread(log.close)
        return await read()

    assert asyncio.run(rebuilt()) == rows


def test_a_read_model_built_before_the_country_migrates_with_null(postgres_url: str) -> None:
    """The live schema as fixtures-0001 left it, with a row: the projection's migrations add
    the column, and the row reads with no country until the projection is rebuilt."""
    schema = live_schema("fixtures")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    backend = get_backend(yoyo_url(postgres_url, schema))
    try:
        first = read_migrations(*migration_dirs("fixtures")).filter(
            lambda m: m.id != "fixtures-0002-venue-country"
        )
        with backend.lock():
            backend.apply_migrations(backend.to_apply(first))
    finally:
        backend.connection.close()
    fixture_id = uuid4()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {schema}.fixtures (fixture_id, sport, competition, season, home, away,"
            " kickoff, venue, status, position) VALUES (%s, 'football', 'E0', '2015-16',"
            " 'Arsenal', 'Spurs', %s, 'Emirates Stadium', 'scheduled', 1)",
            (fixture_id, KICKOFF),
        )

    assert FixturesProjection(postgres_url).migrate() == ["fixtures-0002-venue-country"]

    async def read(fixture_id: UUID) -> queries.FixtureRow | None:
        conn = await asyncpg.connect(postgres_url)
        try:
            return await queries.get_fixture(conn, fixture_id)
        finally:
            await conn.close()

    row = asyncio.run(read(fixture_id))
    assert row is not None
    assert (row.venue, row.venue_country) == ("Emirates Stadium", None)
