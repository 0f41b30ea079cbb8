"""Ingest refuses what an outside tester threw at it (issue 13, items 3, 4, 5, 11, 12, 13):
every refusal is problem+json with a stable code, and the payload is kept in the quarantine."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from commands.ingestion import Accepted, FeedCommand
from gateway.ingest.limits import MAX_PAYLOAD_BYTES
from infra.bootstrap import LateIntake
from tests.http_ingest import (
    FIXTURE_KEY,
    QUOTE,
    SCHEDULED,
    A,
    BytesPulled,
    IngestClient,
    ingest_app,
    ingest_client,
    served,
)

PROBLEM = "application/problem+json"


@pytest.fixture
def api(nats_url: str, unique_name: str) -> Iterator[IngestClient]:
    with ingest_client(nats_url, unique_name) as client:
        yield client


def refused(api: IngestClient, response: Any, status: int, code: str) -> None:
    """``response`` is a ``status`` problem with ``code``, and the quarantine holds the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    held = api.held(problem["quarantine_seq"])
    assert held.reason_code == code
    assert held.raw == response.request.content


def post(api: IngestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    return api.http.post(path, json=body, headers={**A, **headers})


# Item 3: times outside a plausible window


@pytest.mark.parametrize(
    "kickoff", ["0001-01-01T00:00:00Z", "1899-12-31T23:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_a_kickoff_outside_the_plausible_window_is_refused(api: IngestClient, kickoff: str) -> None:
    response = post(api, "/feeds/fixtures", {**SCHEDULED, "kickoff": kickoff})
    refused(api, response, 422, "implausible-time")
    assert api.stored() == 0


def test_the_first_world_cup_and_next_season_are_within_the_window(api: IngestClient) -> None:
    old = {**SCHEDULED, "event_id": "wc1930", "kickoff": "1930-07-13T15:00:00Z"}
    assert post(api, "/feeds/fixtures", old).status_code == 202
    soon = {**SCHEDULED, "event_id": "next", "kickoff": "2027-08-14T15:00:00Z"}
    assert post(api, "/feeds/fixtures", soon).status_code == 202


def test_odds_quoted_and_matches_started_outside_the_window_are_refused(api: IngestClient) -> None:
    assert post(api, "/feeds/fixtures", SCHEDULED).status_code == 202
    quote = {**QUOTE, "quoted_at": "0001-01-01T00:00:00Z"}
    refused(api, post(api, "/feeds/odds", quote), 422, "implausible-time")
    start = {
        "type": "started",
        "event_id": "s1",
        "fixture": FIXTURE_KEY,
        "started_at": "3000-01-01T00:00:00Z",
    }
    refused(api, post(api, "/feeds/match-events", start), 422, "implausible-time")


# Item 4: bounded numbers and strings; unexpected errors are problems too


@pytest.mark.parametrize(
    ("price_format", "price"),
    [
        ("decimal", "2." + "1" * 5000),
        ("fractional", "1" * 5000 + "/1"),
        ("american", "+" + "1" * 5000),
    ],
)
def test_a_price_of_five_thousand_digits_is_a_validation_problem(
    api: IngestClient, price_format: str, price: str
) -> None:
    assert post(api, "/feeds/fixtures", SCHEDULED).status_code == 202
    quote = {**QUOTE, "price_format": price_format, "prices": {**QUOTE["prices"], "home": price}}
    refused(api, post(api, "/feeds/odds", quote), 422, "validation-error")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "period-ended", "period": 10**40, "score": {"home": 0, "away": 0}},
        {"type": "finished", "score": {"home": 10**400, "away": 0}},
        {"type": "goal", "side": "home", "minute": 10**4000},
    ],
)
def test_huge_integers_are_validation_problems(api: IngestClient, event: dict[str, Any]) -> None:
    body = {**event, "event_id": "big", "fixture": FIXTURE_KEY}
    refused(api, post(api, "/feeds/match-events", body), 422, "validation-error")


class SubmitFails:
    """The real intake, except that applying a command fails as no feed should make it."""

    def __init__(self, intake: LateIntake) -> None:
        self.intake = intake
        self.keep_raw = intake.keep_raw
        self.quarantine = intake.quarantine

    async def submit(self, command: FeedCommand) -> Accepted:
        raise ArithmeticError("injected fault")


def test_an_unexpected_error_is_a_500_problem_and_the_payload_is_kept(
    nats_url: str, unique_name: str
) -> None:
    with ingest_client(nats_url, unique_name, wrap=SubmitFails) as api:
        response = post(api, "/feeds/fixtures", SCHEDULED)
        refused(api, response, 500, "internal-error")
        assert (
            "ArithmeticError: injected fault" in api.held(response.json()["quarantine_seq"]).reason
        )


# Item 5: one idempotency key, two bodies


def test_reusing_an_idempotency_key_with_another_body_is_refused(api: IngestClient) -> None:
    assert post(api, "/feeds/fixtures", SCHEDULED).status_code == 202
    assert post(api, "/feeds/match-events", _start()).status_code == 202
    goal = {"type": "goal", "fixture": FIXTURE_KEY, "side": "home", "minute": 12}
    first = post(api, "/feeds/match-events", goal, **{"Idempotency-Key": "goal-1"})
    assert first.status_code == 202
    other = {**goal, "side": "away", "minute": 80}
    refused(
        api,
        post(api, "/feeds/match-events", other, **{"Idempotency-Key": "goal-1"}),
        422,
        "idempotency-key-reused",
    )
    same = post(api, "/feeds/match-events", goal, **{"Idempotency-Key": "goal-1"})
    assert same.status_code == 202
    assert same.json()["status"] == "duplicate"


def _start() -> dict[str, Any]:
    return {"type": "started", "event_id": "s1", "fixture": FIXTURE_KEY}


# Item 11: the body limit


def _head(port: int, length_header: str) -> bytes:
    return (
        f"POST /feeds/fixtures HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer tok-a\r\nContent-Type: application/json\r\n"
        f"{length_header}\r\n\r\n"
    ).encode()


def _status_line(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    nats_url: str, unique_name: str
) -> None:
    """Sends 1 KiB of a declared 10 MB: the answer must come without waiting for the rest."""
    with served(ingest_app(nats_url, unique_name)) as (host, port):
        sock = socket.create_connection((host, port), timeout=10)
        with sock:
            sock.sendall(_head(port, f"Content-Length: {10 * 2**20}") + b" " * 1024)
            assert _status_line(sock).startswith(b"HTTP/1.1 413 ")


def test_an_undeclared_length_is_read_only_up_to_the_limit(nats_url: str, unique_name: str) -> None:
    """10 MB chunked: the app stops pulling once over the limit, and answers."""
    app = BytesPulled(ingest_app(nats_url, unique_name))
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"  # 16 KiB chunks
    with served(app) as (host, port):
        sock = socket.create_connection((host, port), timeout=10)
        with sock:
            sock.sendall(_head(port, "Transfer-Encoding: chunked"))
            with contextlib.suppress(OSError):  # the server may close once it has answered
                for _ in range(640):
                    sock.sendall(chunk)
            assert _status_line(sock).startswith(b"HTTP/1.1 413 ")
    # It stopped at the first message that took it over the limit (a message holds what the
    # server had buffered, so the last one may be large; everything before it was needed).
    assert sum(app.pulls) > MAX_PAYLOAD_BYTES
    assert sum(app.pulls[:-1]) <= MAX_PAYLOAD_BYTES


# Item 12: ASCII digits, printable bounded names, JSON only


@pytest.mark.parametrize("price", ["\u0662.\u0661\u0660", "\uff12.10", "2.1\uff10"])
def test_prices_take_ascii_digits_only(api: IngestClient, price: str) -> None:
    assert post(api, "/feeds/fixtures", SCHEDULED).status_code == 202
    quote = {**QUOTE, "prices": {**QUOTE["prices"], "home": price}}
    refused(api, post(api, "/feeds/odds", quote), 422, "validation-error")


@pytest.mark.parametrize(
    ("field", "value"),
    [("home", "Arse\x00nal"), ("away", "S" * 200_000), ("competition", "league\nx"), ("venue", "")],
)
def test_names_are_bounded_and_printable(api: IngestClient, field: str, value: str) -> None:
    response = post(api, "/feeds/fixtures", {**SCHEDULED, field: value})
    refused(api, response, 422, "validation-error")
    assert api.stored() == 0


def test_names_in_any_script_are_accepted(api: IngestClient) -> None:
    body = {**SCHEDULED, "home": "Borussia Mönchengladbach", "away": "Ferencváros 'Fradi'"}
    assert post(api, "/feeds/fixtures", {**body, "venue": "Стадион Лужники"}).status_code == 202


def test_only_json_bodies_are_accepted(api: IngestClient) -> None:
    raw = json.dumps(SCHEDULED).encode()
    response = api.http.post(
        "/feeds/fixtures", content=raw, headers={**A, "Content-Type": "text/plain"}
    )
    refused(api, response, 415, "unsupported-media-type")
    assert api.stored() == 0
    ok = api.http.post(
        "/feeds/fixtures",
        content=raw,
        headers={**A, "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 202


# Item 13: the OpenAPI document


def test_openapi_declares_feed_bodies_and_problem_responses(api: IngestClient) -> None:
    spec = api.http.get("/openapi.json").json()
    for path in ("/feeds/fixtures", "/feeds/match-events", "/feeds/odds"):
        post_op = spec["paths"][path]["post"]
        schema = post_op["requestBody"]["content"]["application/json"]["schema"]
        assert schema, path
        for status in ("401", "403", "413", "415", "422", "503"):
            assert PROBLEM in post_op["responses"][status]["content"], (path, status)
    odds = spec["paths"]["/feeds/odds"]["post"]["requestBody"]["content"]["application/json"]
    ref = odds["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "prices" in spec["components"]["schemas"][ref]["properties"]
