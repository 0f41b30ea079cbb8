"""Point eventsourcing's unittest contract cases at a real nats-server, a fresh stream each.

Each case runs once per server profile (tests/conftest.py STORE_PROFILES): the module's classes
carry a ``store_profile`` attribute.
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import store_environment


@pytest.fixture(autouse=True)
def _jetstream_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # eventsourcing reads its persistence settings from os.environ, as an application would.
    profile = getattr(request.cls, "store_profile", "plain")
    monkeypatch.setenv("PERSISTENCE_MODULE", "infra.eventstore")
    for key, value in store_environment(profile, request).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NATS_STREAM", f"C{uuid.uuid4().hex[:12].upper()}")
