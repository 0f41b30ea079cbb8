"""The stream watch: a change of a stream's configuration fails readiness within seconds."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from infra.eventstore.stream import stream_config
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.watch import StreamWatch, config_changes
from infra.natsaccess import Role
from tests.conftest import SecureNats


async def connect(secure: SecureNats, role: Role) -> NATS:
    security = secure.security(role)
    return await nats.connect(secure.url, **security.nats_py_options(secure.url))


async def make_stream(nc: NATS, name: str) -> dict[str, Any]:
    config = stream_config(SubjectLayout(name), replicas=1, duplicate_window=120)
    reply = await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode())
    assert "error" not in json.loads(reply.data)
    return config


async def until(condition: Any, seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_stream_update_by_the_admin_fails_readiness_within_two_seconds(
    secure_nats: SecureNats, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin = await connect(secure_nats, Role.ADMIN)
    service = await connect(secure_nats, Role.READER)
    # a long interval: the advisory alone must raise the alarm
    watch = StreamWatch(service, [unique_name], interval=60)
    try:
        config = await make_stream(admin, unique_name)
        await watch.start()
        assert watch.problems() == []
        limited = {**config, "max_msgs": 10, "discard": "old"}  # the issue-13 attack
        reply = await admin.request(
            f"$JS.API.STREAM.UPDATE.{unique_name}", json.dumps(limited).encode()
        )
        assert "error" not in json.loads(reply.data)
        took = await until(lambda: watch.problems(), seconds=2)
        (problem,) = watch.problems()
        assert "[stream-config-changed]" in problem
        assert "max_msgs: -1 -> 10" in problem
        assert took < 2
        assert any(r.levelname == "CRITICAL" for r in caplog.records)
        # put back as it was: the alarm stays (what the limit removed is gone)
        await admin.request(f"$JS.API.STREAM.UPDATE.{unique_name}", json.dumps(config).encode())
        await asyncio.sleep(0.2)
        assert watch.problems()
    finally:
        await watch.stop()
        await admin.close()
        await service.close()


async def test_the_periodic_check_finds_a_change_the_advisory_did_not_tell(
    secure_nats: SecureNats, unique_name: str
) -> None:
    admin = await connect(secure_nats, Role.ADMIN)
    service = await connect(secure_nats, Role.READER)
    watch = StreamWatch(service, [unique_name], interval=0.2)
    try:
        config = await make_stream(admin, unique_name)
        await watch.start()
        await watch.stop()  # no advisories now, as across a lost connection
        await admin.request(
            f"$JS.API.STREAM.UPDATE.{unique_name}",
            json.dumps({**config, "max_bytes": 1024}).encode(),
        )
        assert watch.problems() == []
        await watch.check()
        assert "max_bytes: -1 -> 1024" in watch.problems()[0]
    finally:
        await admin.close()
        await service.close()


async def test_a_service_user_may_not_update_a_stream(
    secure_nats: SecureNats, unique_name: str
) -> None:
    admin = await connect(secure_nats, Role.ADMIN)
    ingest = await connect(secure_nats, Role.INGEST)
    try:
        config = await make_stream(admin, unique_name)
        limited = json.dumps({**config, "max_msgs": 1, "discard": "old"}).encode()
        with pytest.raises(nats.errors.TimeoutError):  # refused: the server drops it
            await ingest.request(f"$JS.API.STREAM.UPDATE.{unique_name}", limited, timeout=0.5)
        info = json.loads((await admin.request(f"$JS.API.STREAM.INFO.{unique_name}", b"")).data)
        assert info["config"]["max_msgs"] == -1
    finally:
        await admin.close()
        await ingest.close()


def test_config_changes_ignores_the_servers_own_metadata() -> None:
    before = {"max_msgs": -1, "metadata": {"_nats.ver": "2.11"}}
    after = {"max_msgs": 5, "metadata": {"_nats.ver": "2.12"}}
    assert config_changes(before, after) == {"max_msgs": (-1, 5)}
