"""The audit route (scope ``audit:read``) against a real nats-server and PostgreSQL: a fixture's
story over HTTP is what `sportcast audit timeline --json` prints, read from the log; the scope
and the plan apply as on every read."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import asyncpg
from typer.testing import CliRunner

from domain.access import Scope
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.app import create_app
from infra.bootstrap import LogTimelines
from infra.cli import app as cli
from infra.connections import connect_nats
from infra.projections.logs import StoreEventLog
from projections.catalogue import postgres_projections
from projections.runner import ProjectionRunner
from readmodels.postgres.api_queries import ReadModelQueries
from tests.access_helpers import bearer, client, key_store, make_key
from tests.http_ingest import QUOTE, SCHEDULED, A, ingest_client
from tests.integration.test_rest_api import create_read_models


async def test_a_fixtures_story_is_served_to_auditors_as_the_cli_tells_it(
    nats_url: str, postgres_url: str, unique_name: str
) -> None:
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    with ingest_client(nats_url, unique_name) as api:
        scheduled = await asyncio.to_thread(
            api.http.post, "/feeds/fixtures", json=SCHEDULED, headers=A
        )
        quoted = await asyncio.to_thread(api.http.post, "/feeds/odds", json=QUOTE, headers=A)
    assert scheduled.status_code == quoted.status_code == 202
    fixture = scheduled.json()["aggregate_id"]
    create_read_models(postgres_url)
    log = await asyncio.to_thread(StoreEventLog, "events", {**env, "NATS_STREAM": unique_name})
    try:
        async with ProjectionRunner(
            postgres_projections(postgres_url, ["fixtures"]), {"events": log}
        ) as runner:
            assert await runner.caught_up(60)
    finally:
        await asyncio.to_thread(log.close)

    told = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["audit", "timeline", fixture, "--nats-url", nats_url, "--json"],
        env={"SPORTCAST_STREAM_NAME": unique_name, "SPORTCAST_FORECASTER_STREAM": unique_name},
    )
    assert told.exit_code == 0, told.output
    by_cli = json.loads(told.stdout)

    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=2)
    assert pool is not None
    nc = await connect_nats(nats_url, reconnect=False)
    try:
        async with key_store(postgres_url) as store:
            auditor, _ = await make_key(store, Scope.AUDIT_READ)
            reader, _ = await make_key(store, Scope.FORECASTS_READ)
            narrow, _ = await make_key(store, Scope.AUDIT_READ, plan=("basketball",))
            app = create_app(
                version_probes=[],
                access=AccessGate(Authenticator(keys=store)),
                read_models=ReadModelQueries(pool),
            )
            app.state.fixture_timelines = LogTimelines(nc, unique_name, unique_name)
            path = f"/v1/audit/fixtures/{fixture}/timeline"
            async with client(app) as http:
                story = await http.get(path, headers=bearer(auditor))
                not_auditor = await http.get(path, headers=bearer(reader))
                not_covered = await http.get(path, headers=bearer(narrow))
                unknown = await http.get(
                    f"/v1/audit/fixtures/{uuid4()}/timeline", headers=bearer(auditor)
                )
                spec = (await http.get("/openapi.json")).json()
    finally:
        await nc.close()
        await pool.close()

    assert story.status_code == 200, story.text
    assert story.json() == by_cli
    kinds = [e["kind"] for e in story.json()["entries"]]
    assert kinds[0] == "Fixture.Scheduled"
    assert len(kinds) >= 2  # and the book the quote opened
    assert not_auditor.status_code == 403
    assert not_auditor.json()["code"] == "insufficient-scope"
    assert not_covered.status_code == 403
    assert not_covered.json()["code"] == "not-entitled"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "fixture-not-found"
    assert "/v1/audit/fixtures/{fixture_id}/timeline" in spec["paths"]
