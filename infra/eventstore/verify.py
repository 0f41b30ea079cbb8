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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from infra.eventstore import chain
from infra.eventstore.checkpoint import Checkpoint
from infra.eventstore.link import NatsLink
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import HASH, PREV, TOPIC, VERSION, RawRecord
from infra.eventstore.security import NatsSecurity
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
    sealed_upto: int = 0
    """The last position a checkpoint covers; events after it are not yet sealed."""
    unsealed: int = 0
    """Events after the last checkpoint (written since; a clean shutdown leaves none)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_records(
    layout: SubjectLayout,
    records: Iterable[RawRecord],
    *,
    key: bytes = b"",
    signing_keys: Mapping[str, bytes] | None = None,
) -> VerificationReport:
    """``signing_keys`` (key id -> secret): every checkpoint must carry a valid signature."""
    verifier = StreamVerifier(layout, key=key, signing_keys=signing_keys)
    verifier.add(records)
    return verifier.report()


SMALL = 1 << 14
_LENGTHS = [chain.SEQUENCE.pack(n) for n in range(SMALL)]  # length fields, made once


class StreamVerifier:
    """Verifies a stream fed to it in order, page by page (a whole log never sits in memory)."""

    def __init__(
        self,
        layout: SubjectLayout,
        *,
        key: bytes = b"",
        signing_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        self.layout = layout
        self.key = key
        self.signing_keys = signing_keys
        self.problems: list[Problem] = []
        self._tails: dict[str, tuple[int, str]] = {}  # aggregate -> (version, hash)
        self._hasher = chain.EventHasher(key)
        self._fields: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})  # length-prefixed
        self._digest_at: dict[int, tuple[str, int]] = {}  # event seq -> (running digest, count)
        self._checkpoints: list[RawRecord] = []
        self._digest, self._count, self.messages, self.events = chain.GENESIS, 0, 0, 0
        self._expected_seq = 1  # our streams start at 1 and deny deletes

    def add(self, records: Iterable[RawRecord]) -> None:
        # The audit's hot loop: counters and the running digest live in locals, and the digest
        # fold is inlined (chain.checkpoint_digest, same bytes), written back once per page.
        key, problems, tails = self.key, self.problems, self._tails
        checkpoints_subject = self.layout.checkpoints
        events_prefix = self.layout.prefix + ".evt."
        event_hash = self._hasher
        fold_keyed = chain.checkpoint_digest
        sha256, pack = chain.sha256, chain.SEQUENCE.pack
        length, length_field, hash_field = pack, chain.length_field, chain.HASH_FIELD
        subjects, topics = self._fields
        small = _LENGTHS
        digest_at = self._digest_at
        genesis = chain.GENESIS
        messages, events, expected = self.messages, self.events, self._expected_seq
        digest, count = self._digest, self._count
        try:
            for r in records:
                messages += 1
                seq, subject = r.seq, r.subject
                if seq != expected:
                    kind = "missing-sequence" if seq > expected else "out-of-order"
                    problems.append(Problem(kind, seq, subject, f"expected sequence {expected}"))
                expected = seq + 1
                if subject == checkpoints_subject:
                    self._checkpoints.append(r)
                    continue
                h = r.headers
                carried = h.get(HASH)
                if carried is None:
                    continue  # tracking positions carry no event
                events += 1
                version = int(h[VERSION])
                prev = h.get(PREV, "")
                if key:
                    digest_of = event_hash(prev, subject, version, h.get(TOPIC, ""), r.data)
                else:  # chain.EventHasher's bytes, inlined: this is most of the audit's time
                    a_field = subjects.get(subject)
                    if a_field is None:
                        a_field = subjects[subject] = length_field(subject)
                    topic = h.get(TOPIC, "")
                    t_field = topics.get(topic)
                    if t_field is None:
                        t_field = topics[topic] = length_field(topic)
                    v = h[VERSION].encode()  # as the writer wrote it: str(version)
                    state = r.data
                    n = len(state)
                    digest_of = sha256(
                        b"".join(
                            (
                                hash_field if len(prev) == 64 else length(len(prev)),
                                prev.encode(),
                                a_field,
                                small[len(v)],
                                v,
                                t_field,
                                small[n] if n < SMALL else length(n),
                                state,
                            )
                        )
                    ).hexdigest()
                if digest_of != carried:
                    problems.append(Problem("altered-event", seq, subject, "content hash differs"))
                tail = tails.get(subject)
                if tail is None:
                    if prev != genesis:
                        detail = "does not link to the previous event"
                        problems.append(Problem("broken-chain", seq, subject, detail))
                else:
                    if prev != tail[1]:
                        detail = "does not link to the previous event"
                        problems.append(Problem("broken-chain", seq, subject, detail))
                    if version <= tail[0]:
                        detail = "version went backwards"
                        problems.append(Problem("out-of-order", seq, subject, detail))
                tails[subject] = (version, carried)
                if subject.startswith(events_prefix):
                    if key:
                        digest = fold_keyed(key=key, prev_digest=digest, seq=seq, hash_=carried)
                    else:
                        digest = sha256(digest.encode() + pack(seq) + carried.encode()).hexdigest()
                    count += 1
                    digest_at[seq] = (digest, count)
        finally:
            self.messages, self.events, self._expected_seq = messages, events, expected
            self._digest, self._count = digest, count

    def digest_at(self, seq: int) -> str:
        """The running digest over every event up to ``seq`` (GENESIS before the first)."""
        if seq == 0:
            return chain.GENESIS
        return self._digest_at.get(seq, ("", 0))[0]

    def report(self) -> VerificationReport:
        checkpoints, digest_at = self._checkpoints, self._digest_at
        problems = [*self.problems, *_check_checkpoints(checkpoints, digest_at, self.signing_keys)]
        sealed = _last_covered(checkpoints)
        count = self._count
        unsealed = count - digest_at[sealed][1] if sealed in digest_at else count
        return VerificationReport(
            self.layout.stream,
            self.messages,
            self.events,
            len(checkpoints),
            problems,
            sealed,
            unsealed,
        )


def _last_covered(checkpoints: list[RawRecord]) -> int:
    for r in reversed(checkpoints):
        try:
            return Checkpoint.decode(r.data).upto_seq
        except (ValueError, TypeError, json.JSONDecodeError):
            continue
    return 0


def _check_checkpoints(
    checkpoints: list[RawRecord],
    digest_at: dict[int, tuple[str, int]],
    signing_keys: Mapping[str, bytes] | None,
) -> list[Problem]:
    problems: list[Problem] = []
    previous = chain.GENESIS
    for r in checkpoints:
        try:
            cp = Checkpoint.decode(r.data)
        except (ValueError, TypeError, json.JSONDecodeError):
            problems.append(Problem("bad-checkpoint", r.seq, r.subject, "unreadable"))
            continue
        if signing_keys is not None:
            problems.extend(_check_signature(r, cp, signing_keys))
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


def _check_signature(
    r: RawRecord, cp: Checkpoint, signing_keys: Mapping[str, bytes]
) -> list[Problem]:
    if not cp.key_id:
        return [Problem("unsigned-checkpoint", r.seq, r.subject, "carries no signature")]
    secret = signing_keys.get(cp.key_id)
    if secret is None:
        detail = f"signed with key {cp.key_id!r}, which was not given"
        return [Problem("unknown-signing-key", r.seq, r.subject, detail)]
    if not cp.signature_valid(secret):
        detail = f"signature does not verify under key {cp.key_id!r}"
        return [Problem("bad-signature", r.seq, r.subject, detail)]
    return []


async def read_all(reader: DirectReader, layout: SubjectLayout) -> list[RawRecord]:
    return await reader.batch(subject=layout.all_subjects, start_seq=1, limit=1 << 62)


def verify_stream(
    url: str, stream: str, *, key: bytes = b"", security: NatsSecurity | None = None
) -> VerificationReport:
    """Read every message of ``stream`` and verify it (the audit CLI's entry point)."""
    link = NatsLink(url, security=security, name="sportcast-audit")
    link.open()
    try:
        layout = SubjectLayout(stream)
        reader = DirectReader(link.nc, stream)
        link.run(reader.start(), timeout=10)
        records = link.run(read_all(reader, layout), timeout=600)
    finally:
        link.close()
    return verify_records(layout, records, key=key)
