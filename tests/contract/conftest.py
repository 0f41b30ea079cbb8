"""Point eventsourcing's unittest contract cases at the session nats-server, a fresh stream each."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def _jetstream_environment(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # eventsourcing reads its persistence settings from os.environ, as an application would.
    monkeypatch.setenv("PERSISTENCE_MODULE", "infra.eventstore")
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("NATS_STREAM", f"C{uuid.uuid4().hex[:12].upper()}")
