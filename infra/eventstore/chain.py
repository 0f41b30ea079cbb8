"""The tamper-evident hash chain: each event names the hash of its aggregate's previous event."""

from __future__ import annotations

import hashlib
import hmac
import struct

GENESIS = "0" * 64  # the "previous hash" of an aggregate's first event
_LENGTH = struct.Struct(">Q").pack
_sha256 = hashlib.sha256


def event_hash(
    *, key: bytes, prev: str, aggregate: str, version: int, topic: str, state: bytes
) -> str:
    return chained_hashes(
        key=key, prev=prev, aggregate=aggregate, events=[(version, topic, state)]
    )[0]


def chained_hashes(
    *, key: bytes, prev: str, aggregate: str, events: list[tuple[int, str, bytes]]
) -> list[str]:
    """The hashes of consecutive events of one aggregate, each linked to the one before."""
    # Length-prefixed fields: no two different events can serialise to the same bytes.
    a = aggregate.encode()
    a_field = _LENGTH(len(a)) + a
    out: list[str] = []
    for version, topic, state in events:
        p, v, t = prev.encode(), str(version).encode(), topic.encode()
        fields = (_LENGTH(len(p)), p, a_field, _LENGTH(len(v)), v, _LENGTH(len(t)), t)
        body = b"".join((*fields, _LENGTH(len(state)), state))
        prev = hmac.digest(key, body, "sha256").hex() if key else _sha256(body).hexdigest()
        out.append(prev)
    return out


def checkpoint_digest(*, key: bytes, prev_digest: str, seq: int, hash_: str) -> str:
    """Fold one event (its stream sequence and hash) into the running global digest."""
    body = prev_digest.encode() + struct.pack(">Q", seq) + hash_.encode()
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()
