"""Errors reach HTTP clients as RFC 9457 problem+json with a stable code."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from gateway.app import create_app


@dataclass
class UnreachableProbe:
    name: str = "nats"

    async def version(self) -> str:
        raise ConnectionError("connection refused")


@dataclass
class FixedProbe:
    name: str
    answer: str

    async def version(self) -> str:
        return self.answer


def test_health_reports_each_service_version() -> None:
    app = create_app(version_probes=[FixedProbe("nats", "2.15.1"), FixedProbe("postgres", "18.6")])
    body = TestClient(app).get("/health").json()
    assert body["services"] == {"nats": {"version": "2.15.1"}, "postgres": {"version": "18.6"}}


def test_unreachable_service_is_a_503_problem_naming_it() -> None:
    app = create_app(version_probes=[UnreachableProbe()])
    response = TestClient(app).get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "service-unavailable"
    assert problem["service"] == "nats"
    assert "connection refused" in problem["detail"]
    assert problem["type"].endswith("/service-unavailable")


def test_unknown_route_is_a_404_problem() -> None:
    response = TestClient(create_app(version_probes=[])).get("/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
    assert response.headers["content-type"] == "application/problem+json"
