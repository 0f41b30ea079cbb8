"""Raw payloads are kept once by content hash and can be fetched back exactly."""

from __future__ import annotations

import hashlib

import nats

from infra.feeds.payloads import PayloadStore


async def test_payload_is_kept_once_and_fetched_back_exactly(
    nats_url: str, unique_name: str
) -> None:
    nc = await nats.connect(nats_url)
    try:
        store = PayloadStore(nc.jetstream(), stream=unique_name, prefix=unique_name.lower())
        await store.ensure_stream()
        raw = b'{"odds": [2.1, 3.4]} \x00\xff'
        ref = await store.keep(raw)
        assert ref == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert await store.keep(raw) == ref
        assert await store.fetch(ref) == raw
        info = await nc.jetstream().stream_info(unique_name)
        assert info.state.messages == 1
    finally:
        await nc.close()
