"""Issue 14 §2: a read-model projection that fails on an event stops there, with the error and
the position, and says so in /readyz, in /metrics and in `sportcast projections status` (the
report behind it). A real PostgreSQL projection (fixtures) fails on a real event of the feed
log: its stored position is put past the fixture's scheduling, so the fixture's next event
finds no row. Real nats-server and PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from commands.fixture import ScheduleFixture, StartFixture
from commands.ingestion import FeedIngestion
from domain.provenance import Provenance
from domain.sport import Sport
from infra.bootstrap import ProjectionsReady, event_store_env
from infra.cli_common import serve_metrics
from infra.embedded.ports import free_port
from infra.projections.report import appended_after, projection_report
from infra.projections.wiring import log_streams, open_logs, running_projector
from infra.settings import Settings
from projections.status import ProjectionState
from tests.metrics_support import scrape_until, value
from tests.projecting import place_fixtures_at

KICKOFF = datetime(2030, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF - timedelta(days=3))


def test_a_projection_failing_on_an_event_shows_it_in_readyz_metrics_and_status(
    nats_url: str, postgres_url: str, unique_name: str
) -> None:
    port = free_port()
    settings = Settings(
        nats_url=nats_url,
        postgres_url=postgres_url,
        stream_name=unique_name,
        forecaster_stream=unique_name + "_F",
        feed_health_stream=unique_name + "_H",
        metrics_port=port,
    )
    serve_metrics(settings, "sportcast-projector")  # as `sportcast serve projector` does
    ingestion = FeedIngestion(event_store_env(settings, settings.nats_client_url))
    try:
        scheduled = ingestion.handle(
            ScheduleFixture(
                idempotency_key=f"schedule-{uuid.uuid4()}",
                provenance=FEED,
                sport=Sport.FOOTBALL,
                competition="world-cup",
                season="2030",
                home="Home",
                away="Away",
                kickoff=KICKOFF,
            )
        )
        started = ingestion.handle(
            StartFixture(
                idempotency_key=f"start-{uuid.uuid4()}",
                provenance=FEED,
                fixture_id=scheduled.aggregate_id,
                started_at=KICKOFF,
            )
        )
    finally:
        ingestion.close()
    past_scheduling = max(scheduled.notification_ids)
    failing_event = min(started.notification_ids)
    assert failing_event > past_scheduling
    # The fixtures read model believes it applied the scheduling: the start finds no row.
    place_fixtures_at(postgres_url, past_scheduling)

    async def project_until_failed() -> tuple[str, float | None, float | None]:
        async with running_projector(settings, nats_url, postgres_url, names=["fixtures"]) as r:
            text = await asyncio.to_thread(  # within 30 s: one page to apply
                scrape_until, port, 'sportcast_projection_failed{projection="fixtures"} 1'
            )
            status = r.statuses["fixtures"]
            assert status.state == ProjectionState.FAILED, text
            failed = value(text, "sportcast_projection_failed", 'projection="fixtures"')
            at = value(
                text, "sportcast_projection_position", 'projection="fixtures"', 'stream="events"'
            )
            return status.error or "", failed, at

    error, failed_gauge, position_gauge = asyncio.run(project_until_failed())
    assert "was never scheduled" in error
    assert failed_gauge == 1
    assert position_gauge == past_scheduling  # stopped after the last event it applied

    async def status_and_readiness() -> tuple[dict[str, object], bool, str]:
        async with open_logs(settings, settings.nats_client_url, reconnect=False) as logs:
            appended = appended_after(logs.nc, log_streams(settings))
            rows = await projection_report(settings.postgres_client_url, logs.logs, appended)
        row = next(r for r in rows if (r.projection, r.stream) == ("fixtures", "events"))
        pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=1)
        assert pool is not None
        try:  # the gateway's check when the projector runs elsewhere (compose)
            ready = await ProjectionsReady(lambda: None, lambda: pool).check()
        finally:
            await pool.close()
        shown = {"state": row.state, "position": row.position, "error": row.error}
        return shown, ready.ready, ready.detail

    shown, ready, detail = asyncio.run(status_and_readiness())
    assert shown["state"] == "failed"
    assert shown["position"] == past_scheduling
    assert str(shown["error"]).startswith(f"stopped after {past_scheduling}: LookupError: ")
    assert not ready
    assert f"fixtures failed after events {past_scheduling}: LookupError: " in detail
