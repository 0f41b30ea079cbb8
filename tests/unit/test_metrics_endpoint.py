"""`/metrics` serves the process's OpenTelemetry instruments in Prometheus's format; every
problem answered is counted by code and logged as one JSON line."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from infra.telemetry import configure_metrics


def _count(text: str, code: str) -> float:
    for line in text.splitlines():
        if line.startswith("sportcast_http_problems_total{") and f'code="{code}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_problems_are_counted_by_code_and_logged_as_json(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_metrics("sportcast-test")
    client = TestClient(create_app(version_probes=[]))
    before = _count(client.get("/metrics").text, "not-found")
    with caplog.at_level(logging.INFO, logger="sportcast.refusals"):
        assert client.get("/no/such/thing").status_code == 404
        assert client.get("/no/such/thing").status_code == 404
    scrape = client.get("/metrics")
    assert scrape.headers["content-type"].startswith("text/plain")
    assert _count(scrape.text, "not-found") == before + 2
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sportcast.refusals"]
    assert lines[-1] == {
        "event": "refused",
        "status": 404,
        "code": "not-found",
        "path": "/no/such/thing",
        "detail": "GET /no/such/thing: Not Found",
    }
