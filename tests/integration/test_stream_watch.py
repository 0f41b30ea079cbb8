"""The stream watch: a change of a stream's configuration fails readiness within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
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


@pytest.fixture
async def users(secure_nats: SecureNats) -> AsyncIterator[dict[Role, NATS]]:
    """Connections as the admin, a reader and the ingest user."""
    made = {
        role: await connect(secure_nats, role) for role in (Role.ADMIN, Role.READER, Role.INGEST)
    }
    yield made
    for nc in made.values():
        await nc.close()


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
    users: dict[Role, NATS], unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin, service = users[Role.ADMIN], users[Role.READER]
    # as the gateway runs it: advisories, and a comparison every second behind them
    watch = StreamWatch(service, [unique_name])
    checks: list[None] = []  # the periodic comparisons, counted
    check = watch.check

    async def counted() -> None:
        await check()
        checks.append(None)

    watch.check = counted  # type: ignore[method-assign]
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
        assert took < 2
        assert "[stream-config-changed]" in watch.problems()[0]
        await until(lambda: "max_msgs: -1 -> 10" in watch.problems()[0], seconds=10)  # the diff
        assert any(r.levelname == "CRITICAL" for r in caplog.records)
        # put back as it was: the alarm stays (what the limit removed is gone)
        await admin.request(f"$JS.API.STREAM.UPDATE.{unique_name}", json.dumps(config).encode())
        seen = len(checks)  # two comparisons after it, each finding the configuration as it was
        await until(lambda: len(checks) >= seen + 2, seconds=30)
        assert watch.problems()
    finally:
        await watch.stop()


async def test_the_periodic_check_finds_a_change_the_advisory_did_not_tell(
    users: dict[Role, NATS], unique_name: str
) -> None:
    admin = users[Role.ADMIN]
    watch = StreamWatch(users[Role.READER], [unique_name], interval=0.2)
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


async def test_a_service_user_may_not_update_a_stream(
    users: dict[Role, NATS], unique_name: str
) -> None:
    admin = users[Role.ADMIN]
    config = await make_stream(admin, unique_name)
    limited = json.dumps({**config, "max_msgs": 1, "discard": "old"}).encode()
    with pytest.raises(nats.errors.TimeoutError):  # refused: the server drops it
        await users[Role.INGEST].request(
            f"$JS.API.STREAM.UPDATE.{unique_name}", limited, timeout=0.5
        )
    info = json.loads((await admin.request(f"$JS.API.STREAM.INFO.{unique_name}", b"")).data)
    assert info["config"]["max_msgs"] == -1


def test_config_changes_ignores_the_servers_own_metadata() -> None:
    before = {"max_msgs": -1, "metadata": {"_nats.ver": "2.11"}}
    after = {"max_msgs": 5, "metadata": {"_nats.ver": "2.12"}}
    assert config_changes(before, after) == {"max_msgs": (-1, 5)}


async def test_stop_returns_even_when_a_check_swallowed_the_cancellation(
    users: dict[Role, NATS], unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `sportcast up` waited for good at shutdown in StreamWatch.stop: a request completing as
    the cancellation arrived swallowed it (asyncio.wait_for in 3.11), and the loop went on."""
    watch = StreamWatch(users[Role.READER], [unique_name], interval=0.2)
    await make_stream(users[Role.ADMIN], unique_name)
    checking = asyncio.Event()

    async def swallowing_check() -> None:
        checking.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.5)

    monkeypatch.setattr(watch, "check", swallowing_check)
    await watch.start()
    await asyncio.wait_for(checking.wait(), 10)
    stopping = asyncio.create_task(watch.stop())
    done, _ = await asyncio.wait([stopping], timeout=30)  # wait_for would cancel it: not that
    stopping.cancel()
    assert stopping in done, "stop() did not return"
