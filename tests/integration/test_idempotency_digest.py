"""A key honoured once answers its retries, and refuses another request (issue 13, item 5), on
the real JetStream event store; receipts stored before digests were kept still answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from commands.fixture import RecordGoal, StartFixture
from commands.ingestion import Accepted, FeedIngestion, IdempotencyKeyReused
from commands.receipt import issue_receipt
from domain.provenance import Provenance
from domain.sport import Side
from tests.integration.test_ingestion_on_jetstream import FEED, SCHEDULE

FID = SCHEDULE.fixture_id


@pytest.fixture
def app(nats_url: str, unique_name: str) -> Iterator[FeedIngestion]:
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": unique_name,
    }
    ingestion = FeedIngestion(env)
    ingestion.handle(SCHEDULE)
    ingestion.handle(StartFixture(idempotency_key="k", provenance=FEED, fixture_id=FID))
    yield ingestion
    ingestion.close()


def goal(key: str, minute: int, side: Side = Side.HOME) -> RecordGoal:
    received = Provenance(source="feed", received_at=datetime.now(UTC))
    return RecordGoal(
        idempotency_key=key, provenance=received, fixture_id=FID, side=side, minute=minute
    )


def test_a_retry_is_a_duplicate_and_another_request_is_refused(app: FeedIngestion) -> None:
    first = app.handle(goal("g", 10))
    again = app.handle(goal("g", 10))  # received later: still the same request
    assert again.duplicate
    assert again.to_version == first.to_version
    with pytest.raises(IdempotencyKeyReused):
        app.handle(goal("g", 80, Side.AWAY))
    assert app.repository.get(FID).score.away == 0


def test_a_run_refuses_a_reused_key_within_it_and_against_the_store(app: FeedIngestion) -> None:
    app.handle(goal("early", 5))
    outcomes = app.handle_many(
        [goal("a", 20), goal("a", 21), goal("a", 20), goal("early", 6), goal("early", 5)]
    )
    assert isinstance(outcomes[0], Accepted)
    assert not outcomes[0].duplicate
    assert isinstance(outcomes[1], IdempotencyKeyReused)
    assert isinstance(outcomes[2], Accepted)
    assert outcomes[2].duplicate
    assert isinstance(outcomes[3], IdempotencyKeyReused)
    assert isinstance(outcomes[4], Accepted)
    assert outcomes[4].duplicate
    assert app.repository.get(FID).score.home == 2


def test_a_receipt_stored_before_digests_answers_as_before(app: FeedIngestion) -> None:
    """A version-1 receipt, stored byte for byte as the code before digests wrote it."""
    version = app.repository.get(FID).version
    app.handle(goal("old", 30))
    stored = app.mapper.to_stored_event(issue_receipt("legacy", "RecordGoal", FID, 3, 3))
    state = json.loads(stored.state)
    del state["payload_digest"], state["class_version"]
    v1 = stored.__class__(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state, separators=(",", ":")).encode(),
    )
    app.recorder.insert_events([v1])
    answer = app.handle(goal("legacy", 77, Side.AWAY))  # no digest to compare: as before
    assert answer.duplicate
    assert (answer.from_version, answer.to_version) == (3, 3)
    assert app.repository.get(FID).version == version + 1
    read_back = app.recorder.select_events(stored.originator_id)
    assert read_back[0].state == v1.state  # the old bytes are left as they are
