"""The audit: re-derive every hash and link and report what does not add up.

``verify_records`` is pure (records in, report out); ``verify_stream`` reads a live stream.
What each check catches:
  altered event     its recomputed hash differs from the one it carries, or (if the forger
                    recomputed it) its successor's link no longer matches
  removed event     a gap in stream sequences, a broken link in its aggregate, or a checkpoint
                    whose count or digest no longer matches
  reordered events  versions that go backwards, links that point to the wrong predecessor
  forged event      a broken link, a checkpoint mismatch, or with NATS_CHAIN_KEY set a hash
                    nobody without the key can produce
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from infra.eventstore import chain
from infra.eventstore.checkpoint import Checkpoint
from infra.eventstore.link import NatsLink
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import HASH, PREV, TOPIC, VERSION, RawRecord
from infra.eventstore.subjects import SubjectLayout


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # "missing-sequence" | "altered-event" | "broken-chain" | "out-of-order" | ...
    seq: int
    subject: str
    detail: str


@dataclass(frozen=True)
class VerificationReport:
    stream: str
    messages: int
    events: int
    checkpoints: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Tail:
    version: int
    hash: str


def verify_records(
    layout: SubjectLayout, records: Iterable[RawRecord], *, key: bytes = b""
) -> VerificationReport:
    problems: list[Problem] = []
    tails: dict[str, _Tail] = {}
    digest_at: dict[int, tuple[str, int]] = {}  # event seq -> (running digest, count)
    checkpoints: list[RawRecord] = []
    digest, count, messages, events = chain.GENESIS, 0, 0, 0
    expected_seq: int | None = 1  # our streams start at 1 and deny deletes
    for r in records:
        messages += 1
        if expected_seq is not None and r.seq != expected_seq:
            kind = "missing-sequence" if r.seq > expected_seq else "out-of-order"
            problems.append(Problem(kind, r.seq, r.subject, f"expected sequence {expected_seq}"))
        expected_seq = r.seq + 1
        if r.subject == layout.checkpoints:
            checkpoints.append(r)
            continue
        if HASH not in r.headers:
            continue  # tracking positions carry no event
        events += 1
        h = r.headers
        recomputed = chain.event_hash(
            key=key,
            prev=h.get(PREV, ""),
            aggregate=r.subject,
            version=int(h[VERSION]),
            topic=h.get(TOPIC, ""),
            state=r.data,
        )
        if recomputed != h[HASH]:
            problems.append(Problem("altered-event", r.seq, r.subject, "content hash differs"))
        tail = tails.get(r.subject)
        expected_prev = tail.hash if tail else chain.GENESIS
        if h.get(PREV) != expected_prev:
            problems.append(
                Problem("broken-chain", r.seq, r.subject, "does not link to the previous event")
            )
        if tail is not None and int(h[VERSION]) <= tail.version:
            problems.append(Problem("out-of-order", r.seq, r.subject, "version went backwards"))
        tails[r.subject] = _Tail(int(h[VERSION]), h[HASH])
        if layout.is_event(r.subject):
            digest = chain.checkpoint_digest(key=key, prev_digest=digest, seq=r.seq, hash_=h[HASH])
            count += 1
            digest_at[r.seq] = (digest, count)
    problems.extend(_check_checkpoints(checkpoints, digest_at))
    return VerificationReport(layout.stream, messages, events, len(checkpoints), problems)


def _check_checkpoints(
    checkpoints: list[RawRecord], digest_at: dict[int, tuple[str, int]]
) -> list[Problem]:
    problems: list[Problem] = []
    previous = chain.GENESIS
    for r in checkpoints:
        try:
            cp = Checkpoint.decode(r.data)
        except (ValueError, TypeError, json.JSONDecodeError):
            problems.append(Problem("bad-checkpoint", r.seq, r.subject, "unreadable"))
            continue
        if cp.prev_digest != previous:
            problems.append(Problem("broken-checkpoint-chain", r.seq, r.subject, "bad link"))
        if digest_at.get(cp.upto_seq) != (cp.digest, cp.count):
            problems.append(
                Problem(
                    "checkpoint-mismatch",
                    r.seq,
                    r.subject,
                    f"events up to {cp.upto_seq} no longer match this checkpoint",
                )
            )
        previous = cp.digest
    return problems


async def read_all(reader: DirectReader, layout: SubjectLayout) -> list[RawRecord]:
    return await reader.batch(subject=layout.all_subjects, start_seq=1, limit=1 << 62)


def verify_stream(url: str, stream: str, *, key: bytes = b"") -> VerificationReport:
    """Read every message of ``stream`` and verify it (the audit CLI's entry point)."""
    link = NatsLink(url, name="sportcast-audit")
    link.open()
    try:
        layout = SubjectLayout(stream)
        reader = DirectReader(link.nc, stream)
        link.run(reader.start(), timeout=10)
        records = link.run(read_all(reader, layout), timeout=600)
    finally:
        link.close()
    return verify_records(layout, records, key=key)
