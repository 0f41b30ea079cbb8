"""/readyz says when a projection has stopped on an event, from the projector's own record in
PostgreSQL (the projector runs elsewhere) or from the runner in this process."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.ports import ReadinessCheck
from infra.bootstrap import LogTimelines, ProjectionsReady, build_gateway
from infra.settings import Settings
from projections.fixtures import FixturesProjection
from projections.runner import ProjectionRunner
from projections.status import ProjectionState
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.positions import record_failure
from readmodels.postgres.schemas import PROJECTOR_SCHEMA
from tests.access_helpers import client
from tests.integration.test_projections_status import feed, report, schedule
from tests.projecting import place_fixtures_at


async def test_a_failed_projection_makes_the_gateway_not_ready(postgres_url: str) -> None:
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=1)
    assert pool is not None
    checks: list[ReadinessCheck] = [ProjectionsReady(lambda: None, lambda: pool)]
    app = create_app(version_probes=[], readiness_checks=checks)
    try:
        async with client(app) as http:
            fresh = await http.get("/readyz")
        await asyncio.to_thread(apply_migrations, postgres_url, "projector", PROJECTOR_SCHEMA)
        async with pool.acquire() as conn:
            await record_failure(conn, "odds", "events", 4711, "LookupError: never opened")
        async with client(app) as http:
            failed = await http.get("/readyz")
    finally:
        await pool.close()
    assert fresh.status_code == 200, fresh.text
    assert failed.status_code == 503
    assert "odds failed after events 4711: LookupError: never opened" in failed.json()["detail"]


async def test_the_runner_in_process_is_asked_first(postgres_url: str) -> None:
    runner = ProjectionRunner([FixturesProjection(postgres_url)], {"events": object()})  # type: ignore[dict-item]
    check = ProjectionsReady(lambda: runner, lambda: None)
    starting = await check.check()
    status = runner.statuses["fixtures"]
    status.state, status.error = ProjectionState.FAILED, "ValueError: bad"
    status.failed_stream, status.failed_position = "events", 12
    failed = await check.check()
    status.state, status.error = ProjectionState.LIVE, None
    live = await check.check()
    assert (starting.ready, starting.detail) == (False, "starting: fixtures")
    assert (failed.ready, failed.detail) == (
        False,
        "fixtures failed after events 12: ValueError: bad",
    )
    assert live.ready


def test_a_migration_applied_but_not_recorded_applies_again(postgres_url: str) -> None:
    """A projector killed after yoyo applied a migration but before it recorded it (two
    transactions) must start again: the schema's migrations re-apply without error."""
    import psycopg

    schema = "rm_kill_between"
    applied = apply_migrations(postgres_url, "forecasts", schema)
    assert applied
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {schema}._yoyo_migration")  # the record, not the tables
    assert apply_migrations(postgres_url, "forecasts", schema) == applied
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_with_the_projector_elsewhere_readyz_says_how_far_behind_it_is(
    nats_url: str, postgres_url: str, unique_name: str
) -> None:
    """`sportcast serve gateway` (compose): the projector is another process, so the gateway
    reads the projections' committed positions from PostgreSQL and the logs' heads from its
    stream hub, and /readyz says how many events the furthest-behind projection has not applied
    (issue 15 §4: readiness covers the projection lag)."""
    settings = Settings(
        nats_url=nats_url,
        postgres_url=postgres_url,
        stream_name=unique_name,
        forecaster_stream=unique_name + "_F",
        feed_health_stream=unique_name + "_H",
    )
    ingestion = feed(settings)
    try:
        heads = [max(ingestion.handle(schedule(team)).notification_ids) for team in "ABC"]
    finally:
        ingestion.close()
    place_fixtures_at(postgres_url, heads[0])  # it applied the first schedule only
    head = report(settings)[("fixtures", "events")].head  # the receipts are messages too
    assert head >= heads[-1] > heads[0]
    app = build_gateway(
        settings, nats_url=nats_url, postgres_url=postgres_url, embedded_analytics=False
    )
    deadline = time.monotonic() + 30  # a loaded box may not answer the heads in one check
    with TestClient(app) as http:
        while True:
            answer = http.get("/readyz")
            checks = {c["name"]: c for c in (answer.json().get("checks") or [])}
            projections = checks["projections"]
            if "events behind" in projections["detail"] or time.monotonic() > deadline:
                break
        # The audit route reads the log on the gateway's own NATS connection (the lifespan's).
        assert isinstance(app.state.fixture_timelines, LogTimelines)
    assert projections["ready"], projections
    assert (
        f"the projector runs elsewhere); events {head - heads[0]} events behind, "
        "forecasts 0 events behind" in projections["detail"]
    )
