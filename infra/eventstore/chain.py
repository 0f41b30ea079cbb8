"""The tamper-evident hash chain: each event names the hash of its aggregate's previous event."""

from __future__ import annotations

import hashlib
import hmac
import struct

GENESIS = "0" * 64  # the "previous hash" of an aggregate's first event


def event_hash(
    *, key: bytes, prev: str, aggregate: str, version: int, topic: str, state: bytes
) -> str:
    # Length-prefixed fields: no two different events can serialise to the same bytes.
    parts = (prev.encode(), aggregate.encode(), str(version).encode(), topic.encode(), state)
    body = b"".join(struct.pack(">Q", len(p)) + p for p in parts)
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def checkpoint_digest(*, key: bytes, prev_digest: str, seq: int, hash_: str) -> str:
    """Fold one event (its stream sequence and hash) into the running global digest."""
    body = prev_digest.encode() + struct.pack(">Q", seq) + hash_.encode()
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()
