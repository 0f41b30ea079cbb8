"""Readiness checks behind /readyz: each says whether a backing service is usable, and why."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NATS

from gateway.ports import CheckResult
from infra.connections import nats_server_version


@dataclass
class NatsReady:
    client: Callable[[], NATS | None]
    name: str = "nats"

    async def check(self) -> CheckResult:
        nc = self.client()
        if nc is None:
            return CheckResult(False, "not connected yet")
        if not nc.is_connected:
            state = "reconnecting" if nc.is_reconnecting else "disconnected"
            return CheckResult(False, f"{state} from {nc.connected_url or 'NATS'}")
        await nc.flush(timeout=1)  # a round trip: the server answers, not just a socket open
        return CheckResult(True, f"nats-server {nats_server_version(nc)}")


@dataclass
class PostgresReady:
    pool: Callable[[], asyncpg.Pool | None]
    name: str = "postgres"

    async def check(self) -> CheckResult:
        pool = self.pool()
        if pool is None:
            return CheckResult(False, "no connection pool yet")
        async with asyncio.timeout(1.5):
            version = await pool.fetchval("SHOW server_version")
        return CheckResult(True, f"PostgreSQL {version}")
