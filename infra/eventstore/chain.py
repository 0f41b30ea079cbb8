"""The tamper-evident hash chain: each event names the hash of its aggregate's previous event."""

from __future__ import annotations

import hashlib
import hmac
import struct

GENESIS = "0" * 64  # the "previous hash" of an aggregate's first event
SEQUENCE = struct.Struct(">Q")
_LENGTH = SEQUENCE.pack
sha256 = _sha256 = hashlib.sha256
HASH_FIELD = _LENGTH(64)  # every previous hash is 64 hex digits (GENESIS too)


def length_field(text: str) -> bytes:
    """``text`` as a hashed field: its UTF-8 length (8 bytes, big-endian), then its bytes."""
    b = text.encode()
    return _LENGTH(len(b)) + b


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
    body = prev_digest.encode() + _LENGTH(seq) + hash_.encode()
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


class EventHasher:
    """``event_hash`` for many events (the audit's hot loop): the same bytes hashed, with each
    aggregate's and topic's length-prefixed field built once instead of per event."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._aggregates: dict[str, bytes] = {}
        self._topics: dict[str, bytes] = {}

    def __call__(self, prev: str, aggregate: str, version: int, topic: str, state: bytes) -> str:
        a_field = self._aggregates.get(aggregate)
        if a_field is None:
            a = aggregate.encode()
            a_field = self._aggregates[aggregate] = _LENGTH(len(a)) + a
        t_field = self._topics.get(topic)
        if t_field is None:
            t = topic.encode()
            t_field = self._topics[topic] = _LENGTH(len(t)) + t
        p, v = prev.encode(), str(version).encode()
        body = b"".join(
            (
                HASH_FIELD if len(p) == 64 else _LENGTH(len(p)),
                p,
                a_field,
                _LENGTH(len(v)),
                v,
                t_field,
                _LENGTH(len(state)),
                state,
            )
        )
        if self._key:
            return hmac.digest(self._key, body, "sha256").hex()
        return _sha256(body).hexdigest()
