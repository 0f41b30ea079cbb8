"""The composition root: the one place that turns settings into real, wired adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from gateway.app import create_app
from infra.connections import (
    connect_nats,
    create_pool,
    nats_server_version,
    postgres_server_version,
)
from infra.settings import Settings
from infra.telemetry import configure_tracing


@dataclass
class Connections:
    """Live connections, opened by the app's lifespan and closed by it."""

    nats: NATS | None = None
    postgres: asyncpg.Pool | None = None


@dataclass
class NatsProbe:
    connections: Connections
    name: str = "nats"

    async def version(self) -> str:
        nc = self.connections.nats
        if nc is None or not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        return nats_server_version(nc)


@dataclass
class PostgresProbe:
    connections: Connections
    name: str = "postgres"

    async def version(self) -> str:
        if self.connections.postgres is None:
            raise ConnectionError("no PostgreSQL pool")
        return await postgres_server_version(self.connections.postgres)


def build_gateway(settings: Settings, *, nats_url: str, postgres_url: str) -> FastAPI:
    configure_tracing("sportcast-gateway", settings.otel_exporter_endpoint)
    connections = Connections()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        connections.nats = await connect_nats(nats_url, name="sportcast-gateway")
        connections.postgres = await create_pool(postgres_url)
        try:
            yield
        finally:
            await connections.postgres.close()
            await connections.nats.drain()

    return create_app(
        version_probes=[NatsProbe(connections), PostgresProbe(connections)], lifespan=lifespan
    )
