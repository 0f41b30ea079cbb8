"""`sportcast replay` as the least privileged NATS user (``reader``: no stream may be created or
changed) on a real nats-server with TLS and one NKey user per role: it creates nothing, and a
stream not made yet (here forecasts, feed health) is read as an empty log."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from commands.ingestion import FeedIngestion
from infra.connections import connect_nats
from infra.natsaccess import Role
from tests.conftest import SecureNats
from tests.integration.test_ingestion_on_jetstream import SCHEDULE

SPORTCAST = str(Path(sys.executable).parent / "sportcast")


async def _stream_names(secure: SecureNats) -> set[str]:
    nc = await connect_nats(
        secure.url, reconnect=False, security=secure.security(Role.ADMIN), name="test-admin"
    )
    try:
        return {s.config.name or "" for s in await nc.jetstream().streams_info()}
    finally:
        await nc.close()


def test_the_reader_user_replays_and_creates_nothing_in_nats(
    secure_nats: SecureNats, postgres_url: str, unique_name: str
) -> None:
    events = f"{unique_name}_EVENTS"
    ingestion = FeedIngestion(
        {
            "PERSISTENCE_MODULE": "infra.eventstore",
            "NATS_URL": secure_nats.url,
            "NATS_STREAM": events,
            **secure_nats.security(Role.ADMIN).as_env(),
        }
    )
    try:
        ingestion.handle(SCHEDULE)
    finally:
        ingestion.close()
    before = asyncio.run(_stream_names(secure_nats))
    assert events in before
    reader = secure_nats.security(Role.READER)
    env = {
        **os.environ,
        "SPORTCAST_STREAM_NAME": events,
        "SPORTCAST_FORECASTER_STREAM": f"{unique_name}_FORECASTS",
        "SPORTCAST_FEED_HEALTH_STREAM": f"{unique_name}_FEED_HEALTH",
        "SPORTCAST_NATS_TLS_CA_FILE": reader.tls_ca_file,
        "SPORTCAST_NATS_TLS_CERT_FILE": reader.tls_cert_file,
        "SPORTCAST_NATS_TLS_KEY_FILE": reader.tls_key_file,
        "SPORTCAST_NATS_NKEY_SEED_FILE": reader.nkey_seed_file,
    }

    def sportcast(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SPORTCAST, *args], env=env, capture_output=True, text=True, timeout=60
        )

    answer = subprocess.run(
        [
            SPORTCAST,
            "replay",
            "--until",
            "events=1",
            "--schema",
            "as_reader",
            "--nats-url",
            secure_nats.url,
            "--postgres-url",
            postgres_url,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert report["positions"]["events"] == 1
    assert report["positions"]["forecasts"] == 0
    assert report["positions"]["feed_health"] == 0
    assert asyncio.run(_stream_names(secure_nats)) == before  # nothing made, as the reader

    async def homes() -> list[str]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return [
                r["home"] for r in await conn.fetch("SELECT home FROM as_reader_fixtures.fixtures")
            ]
        finally:
            await conn.close()

    assert asyncio.run(homes()) == ["Russia"]

    # The audit commands read as the reader too (forecasts: a stream not made yet).
    verified = sportcast("audit", "verify", "--nats-url", secure_nats.url, "--stream", events)
    assert verified.returncode == 0, verified.stderr + verified.stdout
    story = sportcast(
        "audit", "timeline", str(SCHEDULE.fixture_id), "--nats-url", secure_nats.url, "--json"
    )
    assert story.returncode == 0, story.stderr + story.stdout
    assert str(SCHEDULE.fixture_id) in story.stdout
    assert asyncio.run(_stream_names(secure_nats)) == before
