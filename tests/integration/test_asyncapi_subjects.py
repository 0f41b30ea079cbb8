"""Every subject the feed stores, the quarantine and the model object store actually write on a
real nats-server has exactly one channel in the AsyncAPI document, in the stream it names."""

from __future__ import annotations

import asyncio
import json

import nats

from commands.intake import RefusedPayload
from gateway.streams.asyncapi import document
from infra.eventstore.stream import ensure_stream
from infra.eventstore.subjects import SubjectLayout
from infra.feeds.payloads import PayloadStore
from infra.feeds.quarantine import Quarantine
from infra.forecasting.artifacts import DEFAULT_BUCKET, ArtifactStore
from tests import asyncapi_doc


async def test_what_the_stores_write_is_documented(nats_url: str, unique_name: str) -> None:
    doc = asyncapi_doc.load(document())
    channels = asyncapi_doc.nats_channels(doc)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        payloads = PayloadStore(js, stream=f"{unique_name}_P", prefix=f"{unique_name.lower()}p")
        quarantine = Quarantine(js, stream=f"{unique_name}_Q", prefix=f"{unique_name.lower()}q")
        for store in (payloads, quarantine):
            await store.ensure_stream()
        await payloads.keep(b'{"odds": [2.1, 3.4]}')
        held = await quarantine.hold(
            RefusedPayload(
                raw=b"\xff", source="odds.api/v2", kind="odds", reason_code="x", reason="y"
            )
        )
        await quarantine.resolve(held, "accepted")
        bucket = f"{unique_name}_M"
        await ArtifactStore(js, bucket=bucket).put(b"model bytes" * 20_000)  # two chunks

        written = {  # the subjects each stream holds, with the default names put back
            payloads.stream: (
                payloads.prefix,
                PayloadStore.default_prefix,
                PayloadStore.default_stream,
            ),
            quarantine.stream: (
                quarantine.prefix,
                Quarantine.default_prefix,
                Quarantine.default_stream,
            ),
            f"OBJ_{bucket}": (f"$O.{bucket}", f"$O.{DEFAULT_BUCKET}", f"OBJ_{DEFAULT_BUCKET}"),
        }
        seen: set[str] = set()
        for stream, (prefix, default_prefix, default_stream) in written.items():
            info = await js.stream_info(stream, subjects_filter=">")
            subjects = list(info.state.subjects or {})
            assert subjects, stream
            for subject in subjects:
                documented = default_prefix + subject.removeprefix(prefix)
                found = asyncapi_doc.channels_of(doc, documented)
                assert len(found) == 1, (subject, found)
                assert channels[found[0]]["x-stream"] == default_stream
                seen.add(found[0])
        assert seen == {
            "payloads",
            "quarantineHeld",
            "quarantineResolved",
            "modelChunks",
            "modelMeta",
        }
    finally:
        await nc.close()


async def test_a_wake_up_carries_the_documented_headers(nats_url: str, unique_name: str) -> None:
    doc = asyncapi_doc.load(document())
    messages = doc["components"]["messages"]
    documented = set(messages["wakeUp"]["headers"]["properties"]) | set(
        messages["storedEvent"]["headers"]["properties"]
    )
    layout = SubjectLayout(unique_name)
    nc = await nats.connect(nats_url)
    try:
        await ensure_stream(nc, layout, replicas=1, duplicate_window=60.0, create=True)
        sub = await nc.subscribe(layout.notify)
        headers = {"Es-Version": "1", "Es-Topic": "t", "Es-Prev": "p", "Es-Hash": "h"}
        reply = await nc.request(
            layout.aggregate("a"), json.dumps({}).encode(), headers=headers, timeout=10
        )
        assert "error" not in json.loads(reply.data)
        wake = await asyncio.wait_for(sub.next_msg(), timeout=10)
        assert asyncapi_doc.channels_of(
            doc, wake.subject.replace(unique_name, "SPORTCAST_EVENTS", 1)
        ) == ["wakeUps"]
        assert wake.data == b""
        assert set(wake.headers or {}) <= documented
    finally:
        await nc.close()
