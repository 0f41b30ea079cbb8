"""No follower is stopped for good by one event (issue 13, item 3), on the real event store.

The events that once poisoned feed health are stored here as the code before the fix could
have stored them (a kick-off in year 1; a Scheduled event without its competition, standing
for any event the follower cannot process), byte for byte beside good events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commands.feed_health import FeedHealth
from commands.ingestion import FeedIngestion
from domain.feed_health import odds_watch_id
from domain.fixture import Fixture
from domain.provenance import Provenance
from domain.sport import Sport
from infra.feed_health import FeedHealthService
from tests.integration.test_feed_health import (
    FINAL,
    KICKOFF,
    STALE_AFTER,
    WINDOW,
    schedule,
)


@pytest.fixture
def env(nats_url: str, unique_name: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": unique_name,
        "FEEDHEALTH_NATS_STREAM": f"{unique_name}_HEALTH",
    }


@pytest.fixture
def ingestion(env: dict[str, str]) -> Iterator[FeedIngestion]:
    app = FeedIngestion(env)
    yield app
    app.close()


def store_as_old_code_did(
    ingestion: FeedIngestion, home: str, change: Callable[[dict[str, Any]], None]
) -> int:
    """A Scheduled event whose stored state ``change`` edits; returns its position."""
    received = Provenance(source="feed", received_at=KICKOFF)
    fixture = Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="world-cup",
        season="2018",
        home=home,
        away="Nowhere",
        kickoff=KICKOFF,
        venue=None,
        provenance=received,
    )
    stored = ingestion.mapper.to_stored_event(fixture.collect_events()[0])
    state = json.loads(stored.state)
    change(state)
    edited = stored.__class__(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    [position] = ingestion.recorder.insert_events([edited])
    return int(position)


def wait_for(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def tracked(service: FeedHealthService) -> int:
    """The position the follower tracked (between two attempts it has no runner: wait)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return service._position()
        except ConnectionError:
            assert time.monotonic() < deadline, "no runner for 30 s"
            time.sleep(0.02)


def in_year_one(state: dict[str, Any]) -> None:
    state["kickoff"]["_data_"] = "0001-01-01T00:00:00+00:00"


def test_a_kickoff_in_year_one_stored_earlier_does_not_stop_the_stale_odds_check(
    env: dict[str, str], ingestion: FeedIngestion
) -> None:
    store_as_old_code_did(ingestion, "Ancients", in_year_one)
    last = ingestion.handle(FINAL)
    service = FeedHealthService(env, stale_after=STALE_AFTER, window=WINDOW, interval=3600)
    with service:
        wait_for(lambda: service.caught_up() and tracked(service) >= last.notification_ids[-1])
        # Checked at a time when the final's odds are due and stale: it alone is reported.
        assert service.check(KICKOFF - timedelta(hours=2)) == [FINAL.fixture_id]
        assert service.failure is None


def without_competition(state: dict[str, Any]) -> None:
    del state["competition"]


def test_an_event_that_fails_is_recorded_with_its_position_and_resumed_after_a_fix(
    env: dict[str, str], ingestion: FeedIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = ingestion.handle(FINAL)
    poison = store_as_old_code_did(ingestion, "Broken", without_competition)
    after = ingestion.handle(schedule("Belgium", "England", KICKOFF + timedelta(days=1)))
    service = FeedHealthService(env, interval=3600, retry_seconds=0.2)
    with service:
        wait_for(lambda: service.failure is not None and service.failure.attempts >= 2)
        failure = service.failure
        assert failure is not None
        assert failure.position == poison
        assert failure.topic == "Fixture.Scheduled"
        assert failure.error.startswith("AttributeError")
        assert "competition" in failure.error
        assert final.notification_ids[0] <= failure.after < poison  # the final was processed ...
        projection = FeedHealth  # ... the fixture after the poison event was not skipped to:
        assert tracked(service) < after.notification_ids[0]

        # The fix (here: the follower learns to read such old events), then it resumes alone.
        original = projection.policy

        def fixed(self: FeedHealth, domain_event: Any, processing_event: Any) -> None:
            if isinstance(domain_event, Fixture.Scheduled) and "competition" not in vars(
                domain_event
            ):
                object.__setattr__(domain_event, "competition", "unknown")
            original(self, domain_event, processing_event)

        monkeypatch.setattr(projection, "policy", fixed)
        wait_for(lambda: service.failure is None)
        wait_for(lambda: tracked(service) >= after.notification_ids[-1])
        belgium = schedule("Belgium", "England", KICKOFF + timedelta(days=1)).fixture_id
        assert service.projection._watch(belgium) is not None
        broken_watch = service.projection.repository.get(odds_watch_id(_broken_id(poison, env)))
        assert broken_watch.competition == "unknown"


def _broken_id(position: int, env: dict[str, str]) -> Any:
    app = FeedIngestion(env)
    try:
        [notification] = app.recorder.select_notifications(start=position, limit=1)
        return notification.originator_id
    finally:
        app.close()


def test_stop_does_not_raise_what_a_follower_recorded(
    env: dict[str, str], ingestion: FeedIngestion
) -> None:
    store_as_old_code_did(ingestion, "Broken", without_competition)
    service = FeedHealthService(env, interval=3600, retry_seconds=0.2)
    service.start()
    wait_for(lambda: service.failure is not None)
    service.stop()  # the failure stays recorded; stopping is not another failure
    assert service.failure is not None
    assert datetime.now(UTC) - service.failure.since < timedelta(minutes=1)
