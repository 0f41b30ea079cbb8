"""The streams behind the real access gate: API keys in PostgreSQL, the key's plan as the
entitlement of /v1/streams/all during a mixed feed, and its stream connection limit."""

from __future__ import annotations

import asyncio
import json

import httpx

from domain.access import Scope
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.access.streams import GateStreamAccess
from gateway.streams.hub import HubSettings
from tests.access_helpers import bearer, key_store, make_key
from tests.sse_support import Frame, Writers, joined, read_frames, serve_streams

SETTINGS = HubSettings(heartbeat_seconds=30, buffer_events=5, replay_limit=10_000)


async def test_a_key_sees_only_its_plan_on_all_during_a_mixed_feed(
    writers: Writers, postgres_url: str
) -> None:
    a = writers.fixture("world-cup", "Germany", "Mexico")
    b = writers.fixture("euro", "Iceland", "Hungary")
    async with key_store(postgres_url) as store:
        narrow, _ = await make_key(store, Scope.FORECASTS_READ, plan=("football/euro",))
        feed_only, _ = await make_key(store, Scope.FEED_WRITE, provider="acme")
        access = GateStreamAccess(AccessGate(Authenticator(keys=store)))
        async with serve_streams(
            writers.nats_url, writers.events_stream, writers.forecasts_stream, SETTINGS, access
        ) as (base, hub):

            async def write() -> None:
                await joined(hub)  # the stream below starts at the head: then write
                for i in range(5):
                    await asyncio.to_thread(writers.odds, a, f"1.{5 + i}")
                    await asyncio.to_thread(writers.forecast, b, "m1", 0.4)
                    await asyncio.to_thread(writers.goal, a, i + 1)
                    await asyncio.to_thread(writers.goal, b, i + 1)

            writing = asyncio.create_task(write())
            frames: list[Frame] = []
            async with httpx.AsyncClient(timeout=None) as client:
                missing = await client.get(f"{base}/v1/streams/all")
                wrong_scope = await client.get(f"{base}/v1/streams/all", headers=bearer(feed_only))
                url = f"{base}/v1/streams/all?access_token={narrow}"
                async with client.stream("GET", url) as r:
                    async with asyncio.timeout(30):  # generous: a loaded box writes slowly
                        async for frame in read_frames(r):
                            if frame.comment is None:
                                frames.append(frame)
                            if len(frames) == 10:
                                break
            await writing
    assert missing.status_code == 401
    assert missing.json()["code"] == "not-authenticated"
    assert wrong_scope.status_code == 403
    assert wrong_scope.json()["code"] == "insufficient-scope"
    assert {json.loads(f.data)["competition"] for f in frames} == {"euro"}
    assert sorted({f.event or "" for f in frames}) == ["forecast", "goal-scored"]


async def test_streams_beyond_a_keys_connection_limit_are_429_until_one_closes(
    writers: Writers, postgres_url: str
) -> None:
    async with key_store(postgres_url) as store:
        key, _ = await make_key(store, Scope.FORECASTS_READ, connections=1)
        gate = AccessGate(Authenticator(keys=store))
        async with (
            serve_streams(
                writers.nats_url,
                writers.events_stream,
                writers.forecasts_stream,
                SETTINGS,
                GateStreamAccess(gate),
            ) as (base, _),
            httpx.AsyncClient(timeout=None) as client,
        ):
            url = f"{base}/v1/streams/forecasts"
            async with client.stream("GET", url, headers=bearer(key)) as first:
                assert first.status_code == 200
                second = await client.get(url, headers=bearer(key))
                assert second.status_code == 429
                assert second.json()["code"] == "too-many-connections"
            async with asyncio.timeout(30):  # the server notices the first one closed
                while gate.connections._open:  # noqa: ASYNC110 (polls the gate, bounded)
                    await asyncio.sleep(0.05)
            async with client.stream("GET", url, headers=bearer(key)) as third:
                assert third.status_code == 200
