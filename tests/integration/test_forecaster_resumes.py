"""The forecaster is not stopped for good by one event (issue 13, item 3; docs/adr/0017), on
the real event store: a poisoned event stops it there with the failure and the event's
position recorded (and shown by /readyz and /metrics); once the cause is gone it resumes from
that position and issues every forecast after it, exactly as a forecaster that never failed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.provenance import Provenance
from gateway.app import create_app
from infra.bootstrap import FollowersReady
from infra.feeds.replay import Replay
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService
from infra.telemetry import configure_metrics
from tests.football_month import feed_head
from tests.integration.test_follower_resilience import (
    store_as_old_code_did,
    wait_for,
    without_competition,
)
from tests.integration.test_forecaster import read_forecasts
from tests.small_models import small_football_model

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]


def store_poisoned_feed(env: dict[str, str]) -> int:
    """A week of real football with, half-way, a Scheduled event stored as old code could
    have stored it (no competition): the forecaster cannot learn it. Returns its position."""
    app = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    messages = Replay(DATA, since=date(2016, 3, 1), until=date(2016, 3, 7)).messages("football")
    half = len(messages) // 2
    try:
        for message in messages[:half]:
            with contextlib.suppress(DomainError):  # impossible prices are refused, as live
                app.handle(message.build(message.key, received))
        poison = store_as_old_code_did(app, "Broken", without_competition)
        for message in messages[half:]:
            with contextlib.suppress(DomainError):
                app.handle(message.build(message.key, received))
        return poison
    finally:
        app.close()


def gauge(scrape: str, name: str) -> float | None:
    """The forecaster's value of gauge ``name`` in a Prometheus scrape."""
    for line in scrape.splitlines():
        if line.startswith(name + "{") and 'follower="forecaster"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def learn_old_schedules(learn: Callable[..., Any]) -> Callable[..., Any]:
    """The fix: a Scheduled event stored without its competition is learnt as 'unknown'."""

    def fixed(self: Forecaster, domain_event: object, notification_id: int) -> Any:
        if isinstance(domain_event, Fixture.Scheduled) and "competition" not in vars(domain_event):
            object.__setattr__(domain_event, "competition", "unknown")
        return learn(self, domain_event, notification_id)

    return fixed


def test_a_poisoned_event_stops_the_forecaster_there_and_it_resumes_after_the_fix(
    nats_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    env["NATS_STREAM"] = unique_name
    poison = store_poisoned_feed(env)
    last = feed_head(env)
    assert last > poison + 100
    model = small_football_model()
    configure_metrics("sportcast-test")

    service = ForecasterService(
        env, unique_name + "_F", LoadedModel.from_bytes(model), retry_seconds=0.2
    )
    app = create_app(
        version_probes=[], readiness_checks=[FollowersReady(lambda: [service.failure])]
    )
    http = TestClient(app)
    service.start()
    try:
        wait_for(lambda: service.failure is not None and service.failure.attempts >= 2, 60)
        failure = service.failure
        assert failure is not None
        assert (failure.position, failure.topic) == (poison, "Fixture.Scheduled")
        assert failure.error.startswith("AttributeError")
        assert "competition" in failure.error
        assert failure.after < poison
        tried = failure.attempts  # retried again meanwhile: it never gets past the event
        wait_for(lambda: (f := service.failure) is not None and f.attempts > tried, 60)
        assert service.position < poison
        stopped = read_forecasts(env, unique_name + "_F")
        assert stopped, "what came before the poisoned event was forecast"
        assert max(f["as_of"] for f in stopped) < poison
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert f"forecaster stopped at event {poison} (Fixture.Scheduled)" in ready.text
        scrape = http.get("/metrics").text
        assert gauge(scrape, "sportcast_follower_stopped") == 1
        assert gauge(scrape, "sportcast_follower_failed_position") == poison

        monkeypatch.setattr(Forecaster, "learn", learn_old_schedules(Forecaster.learn))
        wait_for(lambda: service.failure is None and service.position >= last, 60)
        assert http.get("/readyz").status_code == 200
        assert gauge(http.get("/metrics").text, "sportcast_follower_stopped") == 0
    finally:
        service.stop()
    resumed = read_forecasts(env, unique_name + "_F")

    # The same feed, followed from the start by a forecaster that never failed.
    reference = ForecasterService(env, unique_name + "_REF", LoadedModel.from_bytes(model))
    reference.start()
    try:
        wait_for(lambda: reference.position >= last, 60)
    finally:
        reference.stop()
    expected = read_forecasts(env, unique_name + "_REF")
    assert any(f["as_of"] > poison for f in expected)
    assert resumed == expected  # nothing after the poisoned event skipped, nothing twice
