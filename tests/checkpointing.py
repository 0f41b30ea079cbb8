"""What the checkpointer's tests share: settings naming every stream after the test, and a few
events appended to the feed stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from infra.bootstrap import event_store_env
from infra.eventstore import JetStreamFactory
from infra.settings import Settings


def checkpointed_settings(nats_url: str, name: str, keys: Path, **more: Any) -> Settings:
    """Settings whose streams are ``name`` and its _F/_H/_R siblings, keys in ``keys``."""
    return Settings(
        nats_url=nats_url,
        stream_name=name,
        forecaster_stream=name + "_F",
        feed_health_stream=name + "_H",
        model_registry_stream=name + "_R",
        checkpoint_keys_file=keys,
        **more,
    )


def append_events(settings: Settings, nats_url: str, n: int) -> int:
    """``n`` events appended to the feed stream; returns its head position."""
    factory = JetStreamFactory(event_store_env(settings, nats_url))
    try:
        recorder = factory.application_recorder()
        recorder.insert_events([StoredEvent(uuid4(), 1, "t:T", b"{}") for _ in range(n)])
        return recorder.max_notification_id() or 0
    finally:
        factory.close()
