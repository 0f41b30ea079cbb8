"""Wiring of the feed intake (composition root helpers shared by the gateway and the CLI)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from nats.aio.client import Client as NATS

from commands.ingestion import FeedIngestion
from infra.feeds.intake import JetStreamFeedIntake
from infra.feeds.payloads import PayloadStore
from infra.feeds.quarantine import Quarantine
from infra.settings import Settings


def event_store_env(settings: Settings, nats_url: str) -> dict[str, str]:
    """The eventsourcing environment that selects the JetStream event store (its keys: see
    infra/eventstore/settings.py and security.py)."""
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": settings.stream_name,
        "NATS_REPLICAS": str(settings.stream_replicas),
        "NATS_SAVE_TIMEOUT": str(settings.nats_save_timeout),
        "NATS_DUPLICATE_WINDOW": str(settings.nats_duplicate_window),
        "NATS_WIRE": "yes" if settings.nats_wire else "no",
        **settings.nats_security().as_env(),
    }
    if settings.nats_chain_key is not None:
        env["NATS_CHAIN_KEY"] = settings.nats_chain_key.get_secret_value()
    return env


@asynccontextmanager
async def open_intake(
    settings: Settings, nats_url: str, nc: NATS, *, workers: int = 32
) -> AsyncIterator[JetStreamFeedIntake]:
    js = nc.jetstream()
    payloads = PayloadStore(js, replicas=settings.stream_replicas)
    quarantine = Quarantine(js, replicas=settings.stream_replicas)
    await payloads.ensure_stream()
    await quarantine.ensure_stream()
    ingestion = await asyncio.to_thread(FeedIngestion, event_store_env(settings, nats_url))
    intake = JetStreamFeedIntake(ingestion, payloads, quarantine, workers=workers)
    try:
        yield intake
    finally:
        intake.close()
        await asyncio.to_thread(ingestion.close)
