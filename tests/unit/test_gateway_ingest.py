"""HTTP ingest: 202 with positions, idempotent retries, problem+json refusals, all refusals kept.

The intake here is the real FeedIngestion service on eventsourcing's in-memory recorder with an
in-memory quarantine: the router is under test, not NATS (see tests/integration for that).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commands.ingestion import Accepted, FeedCommand, FeedIngestion
from commands.intake import RefusedPayload
from gateway.app import create_app

TOKEN = {"Authorization": "Bearer s3cret"}
SCHEDULED = {
    "type": "scheduled",
    "event_id": "fx-1",
    "sport": "football",
    "competition": "premier-league",
    "season": "2015-2016",
    "home": "Arsenal",
    "away": "Spurs",
    "kickoff": "2016-03-05T12:45:00Z",
}
FIXTURE_KEY = {
    "sport": "football",
    "competition": "premier-league",
    "kickoff": "2016-03-05T12:45:00Z",
    "home": "Arsenal",
    "away": "Spurs",
}


@dataclass
class InMemoryIntake:
    app: FeedIngestion = field(
        default_factory=lambda: FeedIngestion(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    )
    raw: dict[str, bytes] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)

    async def keep_raw(self, raw: bytes) -> str:
        ref = "sha256:" + hashlib.sha256(raw).hexdigest()
        self.raw[ref] = raw
        return ref

    async def submit(self, command: FeedCommand) -> Accepted:
        return await asyncio.to_thread(self.app.handle, command)

    async def quarantine(self, refused: RefusedPayload) -> int:
        self.held.append(
            {
                "raw": refused.raw,
                "source": refused.source,
                "kind": refused.kind,
                "code": refused.reason_code,
            }
        )
        return len(self.held)


@pytest.fixture
def intake() -> InMemoryIntake:
    return InMemoryIntake()


@pytest.fixture
def client(intake: InMemoryIntake) -> TestClient:
    app = create_app(version_probes=[], feed_intake=intake, feed_tokens={"s3cret": "acme"})
    return TestClient(app)


def stored(intake: InMemoryIntake) -> int:
    return intake.app.recorder.max_notification_id() or 0


def test_schedule_is_accepted_with_its_position(client: TestClient, intake: InMemoryIntake) -> None:
    raw = json.dumps(SCHEDULED, indent=1).encode()  # the exact bytes must be what we keep
    response = client.post(
        "/feeds/fixtures", content=raw, headers={**TOKEN, "Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["idempotency_key"] == "acme:fx-1"
    assert len(body["notification_ids"]) == 1
    assert stored(intake) == 2
    # provenance points at the raw payload we kept
    assert list(intake.raw.values()) == [raw]


def test_retry_with_same_key_adds_nothing_and_answers_the_same(
    client: TestClient, intake: InMemoryIntake
) -> None:
    first = client.post("/feeds/fixtures", json=SCHEDULED, headers=TOKEN).json()
    before = stored(intake)
    again = client.post("/feeds/fixtures", json=SCHEDULED, headers=TOKEN)
    assert again.status_code == 202
    assert again.json()["status"] == "duplicate"
    assert again.json()["aggregate_id"] == first["aggregate_id"]
    assert stored(intake) == before


def test_idempotency_key_header_wins_and_is_namespaced_by_provider(client: TestClient) -> None:
    body = {k: v for k, v in SCHEDULED.items() if k != "event_id"}
    response = client.post(
        "/feeds/fixtures", json=body, headers={**TOKEN, "Idempotency-Key": "abc"}
    )
    assert response.json()["idempotency_key"] == "acme:abc"


def test_missing_key_is_refused_and_quarantined(client: TestClient, intake: InMemoryIntake) -> None:
    body = {k: v for k, v in SCHEDULED.items() if k != "event_id"}
    response = client.post("/feeds/fixtures", json=body, headers=TOKEN)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency-key-required"
    assert intake.held[0]["code"] == "idempotency-key-required"


def test_invalid_payload_is_a_422_problem_and_kept_byte_for_byte(
    client: TestClient, intake: InMemoryIntake
) -> None:
    raw = b'{"type": "scheduled", "sport": "curling", "event_id": "x"}'
    response = client.post(
        "/feeds/fixtures", content=raw, headers={**TOKEN, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation-error"
    assert "sport" in problem["detail"]
    assert problem["quarantine_seq"] == 1
    assert intake.held == [
        {"raw": raw, "source": "acme", "kind": "fixture", "code": "validation-error"}
    ]
    assert stored(intake) == 0


def test_domain_refusal_carries_the_domain_code_and_writes_nothing(
    client: TestClient, intake: InMemoryIntake
) -> None:
    client.post("/feeds/fixtures", json=SCHEDULED, headers=TOKEN)
    before = stored(intake)
    goal = {"type": "goal", "event_id": "g1", "fixture": FIXTURE_KEY, "side": "home", "minute": 5}
    response = client.post("/feeds/match-events", json=goal, headers=TOKEN)
    assert response.status_code == 422
    assert response.json()["code"] == "fixture-not-started"
    assert intake.held[-1]["code"] == "fixture-not-started"
    assert stored(intake) == before


def test_impossible_odds_are_refused_with_their_code(
    client: TestClient, intake: InMemoryIntake
) -> None:
    client.post("/feeds/fixtures", json=SCHEDULED, headers=TOKEN)
    quote = {
        "event_id": "o1",
        "fixture": FIXTURE_KEY,
        "market": "1x2",
        "prices": {"home": "3.50", "draw": "3.60", "away": "3.70"},
        "quoted_at": "2016-03-03T10:00:00Z",
    }
    response = client.post("/feeds/odds", json=quote, headers=TOKEN)
    assert response.status_code == 422
    assert response.json()["code"] == "impossible-book"
    good = {**quote, "event_id": "o2", "prices": {"home": "2.10", "draw": "3.40", "away": "3.60"}}
    assert client.post("/feeds/odds", json=good, headers=TOKEN).status_code == 202


def test_no_token_or_unknown_token_is_401(client: TestClient) -> None:
    assert client.post("/feeds/fixtures", json=SCHEDULED).json()["code"] == "not-authenticated"
    other = client.post("/feeds/fixtures", json=SCHEDULED, headers={"Authorization": "Bearer nope"})
    assert other.status_code == 401
    assert other.json()["code"] == "unknown-token"
