"""`sportcast projections status` (the report behind it) on a real event store and PostgreSQL:
lag in seconds is the age of the oldest event a projection has not applied, and the analytics
projection, whose rows live in DuckDB, is listed, failure and position included, from what it
copies to PostgreSQL; /readyz says the same."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from commands.fixture import ScheduleFixture
from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.forecast import FixtureForecasts, Forecast
from domain.provenance import Provenance
from domain.sport import Sport
from gateway.ports import CheckResult
from infra.analytics.mirror import mirror_analytics
from infra.analytics.runner import AnalyticsRunner
from infra.bootstrap import ProjectionsReady, analytics_service, event_store_env
from infra.forecasting.service import forecaster_env
from infra.projections.report import (
    StreamStatus,
    appended_after,
    projection_report,
    stored_at,
)
from infra.projections.wiring import log_streams, open_logs
from infra.settings import Settings
from tests.projecting import project

KICKOFF = datetime(2030, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF - timedelta(days=3))


def schedule(home: str) -> ScheduleFixture:
    return ScheduleFixture(
        idempotency_key=f"schedule-{home}-{uuid.uuid4()}",
        provenance=FEED,
        sport=Sport.FOOTBALL,
        competition="world-cup",
        season="2030",
        home=home,
        away="Away",
        kickoff=KICKOFF,
    )


@pytest.fixture
def settings(nats_url: str, postgres_url: str, unique_name: str) -> Settings:
    return Settings(
        nats_url=nats_url,
        postgres_url=postgres_url,
        stream_name=unique_name,
        forecaster_stream=f"{unique_name}_F",
        feed_health_stream=f"{unique_name}_H",
    )


def report(settings: Settings) -> dict[tuple[str, str], StreamStatus]:
    async def main() -> list[StreamStatus]:
        async with open_logs(settings, settings.nats_client_url, reconnect=False) as logs:
            appended = appended_after(logs.nc, log_streams(settings))
            return await projection_report(settings.postgres_client_url, logs.logs, appended)

    return {(r.projection, r.stream): r for r in asyncio.run(main())}


def feed(settings: Settings) -> FeedIngestion:
    return FeedIngestion(event_store_env(settings, settings.nats_client_url))


def test_lag_in_seconds_is_the_age_of_the_oldest_event_not_applied(settings: Settings) -> None:
    ingestion = feed(settings)
    try:
        ingestion.handle(schedule("A"))
        time.sleep(1.5)
        before = report(settings)[("fixtures", "events")]
        assert (before.state, before.position) == ("not-started", 0)
        assert before.lag_events == before.head > 0
        assert 1.5 <= before.lag_seconds < 30

        env = event_store_env(settings, settings.nats_client_url)
        project({"events": env}, settings.postgres_client_url, ["fixtures"])
        caught = report(settings)[("fixtures", "events")]
        assert (caught.state, caught.lag_events, caught.lag_seconds) == ("live", 0, 0.0)

        time.sleep(2.5)  # caught up for a while: that is not lag
        appended = time.time()
        ingestion.handle(schedule("B"))
        fresh = report(settings)[("fixtures", "events")]
        since_appended = time.time() - appended
        assert (fresh.state, fresh.position) == ("catching-up", caught.head)
        assert fresh.lag_events == fresh.head - caught.head > 0
        # Not the time since it was last caught up (which is 2.5 s more).
        assert 0 <= fresh.lag_seconds <= since_appended + 0.5
        time.sleep(1.5)
        older = report(settings)[("fixtures", "events")]
        assert 1.5 <= older.lag_seconds < 30
    finally:
        ingestion.close()


def test_nats_time_stamps_keep_microseconds_and_zone() -> None:
    assert stored_at("2026-12-05T10:20:30.123456789Z") == datetime(
        2026, 12, 5, 10, 20, 30, 123456, tzinfo=UTC
    )
    assert stored_at("2026-12-05T10:20:30Z") == datetime(2026, 12, 5, 10, 20, 30, tzinfo=UTC)
    assert stored_at("2026-12-05T11:20:30.5+01:00") == datetime(
        2026, 12, 5, 10, 20, 30, 500000, tzinfo=UTC
    )


def mirrored(runner: AnalyticsRunner, settings: Settings, until: object) -> None:
    """Run the copy to PostgreSQL until the report shows ``until`` (a predicate)."""

    async def main() -> None:
        task = asyncio.create_task(
            mirror_analytics(runner, settings.postgres_client_url, every=0.1)
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                rows = await asyncio.to_thread(report, settings)
                if until(rows):  # type: ignore[operator]
                    return
                await asyncio.sleep(0.2)
            raise AssertionError(f"the report never showed it: {rows}")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())


def unknown_fixture_forecast(settings: Settings) -> None:
    """A forecast for a fixture the feed never scheduled: the analytics projection stops on it."""
    env = event_store_env(settings, settings.nats_client_url)
    app = Forecaster(forecaster_env(env, settings.forecaster_stream))
    try:
        forecast = Forecast(
            kickoff=KICKOFF,
            trigger="odds-opened",
            model_id="m1",
            artifact_hash="h1",
            market="1x2",
            outcomes=("home", "draw", "away"),
            probabilities=(0.5, 0.3, 0.2),
            market_probabilities=(0.4, 0.3, 0.3),
            features={},
            as_of_position=0,
            input_notification_ids=(),
        )
        app.save(FixtureForecasts.first(uuid.uuid4(), forecast))
    finally:
        app.close()


def test_the_analytics_projection_is_in_the_status_and_in_readyz_failure_included(
    settings: Settings, tmp_path: Path
) -> None:
    ingestion = feed(settings)
    try:
        ingestion.handle(schedule("A"))
        ingestion.handle(schedule("B"))
    finally:
        ingestion.close()
    assert report(settings)[("analytics", "events")].state == "not-started"

    service = analytics_service(settings, settings.nats_client_url, path=tmp_path / "a.duckdb")
    try:
        service.runner.catch_up()
        mirrored(service.runner, settings, lambda r: r[("analytics", "events")].state == "live")
        live = report(settings)
        assert (live[("analytics", "events")].position, live[("analytics", "events")].head) == (
            live[("fixtures", "events")].head,
            live[("fixtures", "events")].head,
        )
        assert live[("analytics", "forecasts")].state == "live"
        serving = asyncio.run(
            ProjectionsReady(lambda: None, lambda: None, lambda: service.runner).check()
        )
        head = live[("fixtures", "events")].head
        assert f"analytics at events {head}, 0 events behind, 0.0 s" in serving.detail
        waiting = feed(settings)
        try:
            waiting.handle(schedule("C"))  # not applied: the runner is not following
        finally:
            waiting.close()
        time.sleep(1.5)
        behind = asyncio.run(
            ProjectionsReady(lambda: None, lambda: None, lambda: service.runner).check()
        )
        lag = re.search(r"analytics at events \d+, (\d+) events behind, ([\d.]+) s", behind.detail)
        assert lag is not None, behind.detail
        assert int(lag[1]) > 0
        assert 1.5 <= float(lag[2]) < 60
        service.runner.catch_up()

        unknown_fixture_forecast(settings)
        service.runner.start()
        deadline = time.monotonic() + 20
        while service.runner.failure is None:
            assert time.monotonic() < deadline, "the analytics projection did not stop"
            time.sleep(0.05)
        mirrored(service.runner, settings, lambda r: r[("analytics", "forecasts")].error)
        failed = report(settings)
        row = failed[("analytics", "forecasts")]
        assert (row.state, row.position, row.head, row.lag_events) == ("failed", 0, 1, 1)
        assert row.error is not None
        assert row.error.startswith("stopped after 0: AnalyticsProjectionError: no Fixture")
        assert failed[("analytics", "events")].state == "failed"
        assert failed[("analytics", "events")].error is None

        in_process = asyncio.run(
            ProjectionsReady(lambda: None, lambda: None, lambda: service.runner).check()
        )
        elsewhere = asyncio.run(ready_from_postgres(settings.postgres_client_url))
    finally:
        service.close()
    assert not in_process.ready
    assert "analytics failed after forecasts 0: AnalyticsProjectionError" in in_process.detail
    assert not elsewhere.ready
    assert "analytics failed after forecasts 0: AnalyticsProjectionError" in elsewhere.detail


async def ready_from_postgres(postgres_url: str) -> CheckResult:
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        return await ProjectionsReady(lambda: None, lambda: pool).check()
    finally:
        await pool.close()
