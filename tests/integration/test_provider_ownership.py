"""One provider cannot write another's fixtures or quote in another's name (issue 13, item 2).

Through the HTTP API on the real event store: provider A schedules, provider B is refused with
403 problem+json (quarantined) until an admin grants it the fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.http_ingest import FIXTURE_KEY, QUOTE, SCHEDULED, A, B, IngestClient, ingest_client

PROBLEM = "application/problem+json"
START = {"type": "started", "event_id": "s1", "fixture": FIXTURE_KEY}
GOAL = {"type": "goal", "event_id": "g1", "fixture": FIXTURE_KEY, "side": "away", "minute": 3}
FINISH = {
    "type": "finished",
    "event_id": "f1",
    "fixture": FIXTURE_KEY,
    "score": {"home": 0, "away": 1},
}
CORRECT = {
    "type": "result-corrected",
    "event_id": "c1",
    "fixture": FIXTURE_KEY,
    "score": {"home": 0, "away": 5},
    "reason": "typo",
}


@pytest.fixture
def api(nats_url: str, unique_name: str) -> Iterator[IngestClient]:
    with ingest_client(
        nats_url, unique_name, feed_bookmakers={"prov-a": ["bet365", "pinnacle"]}
    ) as client:
        assert client.http.post("/feeds/fixtures", json=SCHEDULED, headers=A).status_code == 202
        yield client


def forbidden(api: IngestClient, response: Any, code: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    held = api.held(problem["quarantine_seq"])
    assert held.reason_code == code
    assert held.source == "prov-b"
    assert held.raw == response.request.content


def fixture_id(api: IngestClient) -> Any:
    from domain.fixture_id import fixture_id as derive
    from domain.sport import Sport

    return derive(
        Sport.FOOTBALL,
        FIXTURE_KEY["competition"],
        datetime.fromisoformat(FIXTURE_KEY["kickoff"]),
        FIXTURE_KEY["home"],
        FIXTURE_KEY["away"],
    )


def test_another_provider_cannot_play_out_or_correct_a_fixture(api: IngestClient) -> None:
    before = api.stored()
    forbidden(
        api, api.http.post("/feeds/match-events", json=START, headers=B), "not-fixture-writer"
    )
    assert api.http.post("/feeds/match-events", json=START, headers=A).status_code == 202
    for event in (GOAL, FINISH):
        response = api.http.post("/feeds/match-events", json=event, headers=B)
        forbidden(api, response, "not-fixture-writer")
    for event in (GOAL, FINISH):
        assert api.http.post("/feeds/match-events", json=event, headers=A).status_code == 202
    forbidden(
        api, api.http.post("/feeds/match-events", json=CORRECT, headers=B), "not-fixture-writer"
    )
    reschedule = {"type": "postponed", "event_id": "p1", "fixture": FIXTURE_KEY}
    forbidden(
        api, api.http.post("/feeds/fixtures", json=reschedule, headers=B), "not-fixture-writer"
    )
    fixture = api.intake.ingestion.repository.get(fixture_id(api))
    assert fixture.result.away == 1  # A's result stands
    assert api.stored() == before + 2 * 3  # A's three events, each with its receipt


def test_odds_are_attributed_to_the_provider_or_a_bookmaker_it_may_relay(api: IngestClient) -> None:
    as_a = {**QUOTE, "event_id": "b1", "bookmaker": "prov-a"}
    forbidden(api, api.http.post("/feeds/odds", json=as_a, headers=B), "bookmaker-not-allowed")
    relayed = {**QUOTE, "event_id": "b2", "bookmaker": "bet365"}
    forbidden(api, api.http.post("/feeds/odds", json=relayed, headers=B), "bookmaker-not-allowed")
    assert api.http.post("/feeds/odds", json=relayed, headers=A).status_code == 202
    own = {**QUOTE, "event_id": "b3"}  # no bookmaker: the provider's own prices
    assert api.http.post("/feeds/odds", json=own, headers=B).status_code == 202
    named = {**QUOTE, "event_id": "b4", "bookmaker": "prov-b"}
    assert api.http.post("/feeds/odds", json=named, headers=B).status_code == 202


def test_an_admin_grant_lets_another_provider_write_the_fixture(
    api: IngestClient, nats_url: str, unique_name: str
) -> None:
    """Granted with `sportcast feed grant`, a process of its own on the same store."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": nats_url,
        "SPORTCAST_STREAM_NAME": unique_name,
    }
    sportcast = str(Path(sys.executable).parent / "sportcast")
    granted = subprocess.run(
        [sportcast, "feed", "grant", str(fixture_id(api)), "prov-b"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert granted.returncode == 0, granted.stderr
    assert "prov-b may now write fixture" in granted.stdout
    assert api.http.post("/feeds/match-events", json=START, headers=B).status_code == 202
    assert api.http.post("/feeds/match-events", json=GOAL, headers=A).status_code == 202
