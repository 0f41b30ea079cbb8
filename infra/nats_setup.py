"""Set-up with the NATS admin user: every stream and bucket sportcast uses, made before services.

Services connect as users that may read stream configurations but never create, update, delete
or purge a stream (infra/natsaccess.py), so the streams exist first: ``sportcast nats setup``
(compose runs it once as a job), or ``sportcast up`` itself with the embedded stack's admin key.
"""

from __future__ import annotations

import asyncio

from infra.connections import connect_nats
from infra.eventstore.security import NatsSecurity
from infra.eventstore.stream import ensure_stream
from infra.eventstore.subjects import SubjectLayout
from infra.feeds.once import ensure_append_only_stream
from infra.feeds.payloads import PayloadStore
from infra.feeds.quarantine import Quarantine
from infra.forecasting.artifacts import ArtifactStore
from infra.natsaccess import StreamNames
from infra.settings import Settings


def stream_names(settings: Settings) -> StreamNames:
    return StreamNames(
        events=settings.stream_name,
        demo_history=settings.demo_history_stream,
        replay_history=settings.replay_history_stream,
        feed_health=settings.feed_health_stream,
        payloads_prefix=PayloadStore.default_prefix,
        quarantine_prefix=Quarantine.default_prefix,
        forecasts=settings.forecaster_stream,
        model_registry=settings.model_registry_stream,
        model_bucket=settings.model_bucket,
    )


def event_streams(settings: Settings) -> list[str]:
    """The event store's streams (one per eventsourcing Application)."""
    return stream_names(settings).event_streams()


def all_streams(settings: Settings) -> list[str]:
    """Every stream sportcast relies on (what set-up makes and the stream watch watches)."""
    return [
        *event_streams(settings),
        PayloadStore.default_stream,
        Quarantine.default_stream,
        f"OBJ_{settings.model_bucket}",
    ]


async def prepare_streams(settings: Settings, url: str, admin: NatsSecurity) -> list[str]:
    """Create (or check) every stream and the model bucket; the names, in order."""
    nc = await connect_nats(url, name="sportcast-setup", security=admin)
    try:
        made: list[str] = []
        for name in event_streams(settings):
            await ensure_stream(
                nc,
                SubjectLayout(name),
                replicas=settings.stream_replicas,
                duplicate_window=settings.nats_duplicate_window,
                create=True,
            )
            made.append(name)
        js = nc.jetstream()
        for store in (PayloadStore, Quarantine):
            await ensure_append_only_stream(
                js,
                name=store.default_stream,
                subjects=[f"{store.default_prefix}.>"],
                replicas=settings.stream_replicas,
            )
            made.append(store.default_stream)
        bucket = ArtifactStore(js, bucket=settings.model_bucket, replicas=settings.stream_replicas)
        await bucket.ensure_bucket()
        made.append(f"OBJ_{settings.model_bucket}")
        return made
    finally:
        await nc.close()


def prepare(settings: Settings, url: str, admin: NatsSecurity) -> list[str]:
    return asyncio.run(prepare_streams(settings, url, admin))
