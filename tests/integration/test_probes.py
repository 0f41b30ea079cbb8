"""/healthz and /readyz against a real nats-server and PostgreSQL."""

from __future__ import annotations

import asyncpg
import nats
from nats.aio.client import Client as NATS

from gateway.app import create_app
from infra.bootstrap import NatsReady, PostgresReady
from tests.access_helpers import client


async def test_ready_when_nats_and_postgres_answer(nats_url: str, postgres_url: str) -> None:
    nc = await nats.connect(nats_url)
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=1)
    checks = [NatsReady(lambda: nc), PostgresReady(lambda: pool)]
    try:
        async with client(create_app(version_probes=[], readiness_checks=checks)) as http:
            live = await http.get("/healthz")
            ready = await http.get("/readyz")
    finally:
        await pool.close()
        await nc.close()
    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    by_name = {c["name"]: c for c in ready.json()["checks"]}
    assert by_name["nats"]["ready"]
    assert by_name["nats"]["detail"].startswith("nats-server ")
    assert by_name["postgres"]["ready"]
    assert by_name["postgres"]["detail"].startswith("PostgreSQL")


async def test_not_ready_is_503_problem_with_each_reason(nats_url: str, postgres_url: str) -> None:
    nc = await nats.connect(nats_url)
    await nc.close()  # a connection that was lost
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=1)
    assert pool is not None
    await pool.close()  # a pool that can no longer serve
    missing: NATS | None = None
    checks = [
        NatsReady(lambda: nc),
        PostgresReady(lambda: pool),
        NatsReady(lambda: missing, "nats-2"),
    ]
    async with client(create_app(version_probes=[], readiness_checks=checks)) as http:
        live = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert live.status_code == 200  # alive: not a reason to restart the process
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    body = ready.json()
    assert body["code"] == "not-ready"
    assert {c["name"]: c["ready"] for c in body["checks"]} == {
        "nats": False,
        "postgres": False,
        "nats-2": False,
    }
    assert "nats-2: not connected yet" in body["detail"]
    assert "disconnected" in body["detail"]
