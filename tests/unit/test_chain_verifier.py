"""The verifier's inlined hashing gives chain.event_hash's answer on every shape of event:
payloads past the precomputed length fields, versions of several digits, HMAC keys."""

from __future__ import annotations

import pytest

from infra.eventstore import chain
from infra.eventstore.records import HASH, PREV, TOPIC, VERSION, RawRecord
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import SMALL, StreamVerifier

LAYOUT = SubjectLayout("UNIT")


def _log(key: bytes, states: list[bytes]) -> list[RawRecord]:
    subject = LAYOUT.events[:-1] + "u" + "ab" * 16
    prev, out = chain.GENESIS, []
    for version, state in enumerate(states, start=1):
        digest = chain.event_hash(
            key=key, prev=prev, aggregate=subject, version=version, topic="t:T", state=state
        )
        headers = {VERSION: str(version), TOPIC: "t:T", PREV: prev, HASH: digest}
        out.append(RawRecord(version, subject, headers, state))
        prev = digest
    return out


@pytest.mark.parametrize("key", [b"", b"chain-key"])
def test_every_shape_verifies_and_a_flipped_byte_is_found(key: bytes) -> None:
    states = [b"", b"x", b"y" * (SMALL - 1), b"z" * SMALL, b"w" * (SMALL * 3), *[b"{}"] * 10]
    records = _log(key, states)
    clean = StreamVerifier(LAYOUT, key=key)
    clean.add(records)
    assert clean.problems == []
    assert clean.events == len(states)

    big = records[4]
    tampered = [*records[:4], RawRecord(big.seq, big.subject, big.headers, b"v" + big.data[1:])]
    verifier = StreamVerifier(LAYOUT, key=key)
    verifier.add(tampered + records[5:])
    assert [(p.kind, p.seq) for p in verifier.problems] == [("altered-event", 5)]
