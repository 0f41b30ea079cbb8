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

import bisect
import hmac
import json
import re
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from infra.eventstore import chain
from infra.eventstore.checkpoint import Checkpoint
from infra.eventstore.link import NatsLink
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import (
    HASH,
    PREV,
    TOPIC,
    TRACKING,
    TRACKING_APP,
    VERSION,
    RawRecord,
)
from infra.eventstore.security import NatsSecurity
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.wire_protocol import parse_headers


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
_GENESIS = chain.GENESIS.encode()
_HEX_DIGEST = 64

# An event message's headers as our writer lays them out (infra/eventstore/plan.py), read with
# one C call instead of a header dict. Taken this way only when it reads what nats-py reads:
# ASCII digits for the version, 64 ASCII letters or digits for each hash (``isalnum`` checked:
# nothing to strip or decode); anything else goes through parse_headers.
_EVENT_HEADERS = re.compile(
    rb"\r\nEs-Version: (\d{1,18})\r\nEs-Topic:(.*)\r\nEs-Prev: (.{64})\r\nEs-Hash: (.{64})\r\n"
)
_ES = b"Es-"
_TRACKING = (b"\r\n" + TRACKING.encode() + b":", b"\r\n" + TRACKING_APP.encode() + b":")

Frame = Callable[[bytes, int, bytes, bytes], None]
"""One stored message as the wire client hands it over: subject, stream sequence, header block
(``NATS/1.0`` line to the blank line), payload."""


@dataclass(frozen=True)
class RangePart:
    """What a verifier of one contiguous range of the log found (``StreamVerifier(range_part=
    True)``), to be joined in order by the verifier of the whole log (:meth:`StreamVerifier.join`).

    The checks that need what lies before the range are left to the join: the sequence link to
    the previous range (``first``), each aggregate's first link in the range (``firsts``: its
    position, version, previous hash and where its problems go in ``problems``) and the running
    checkpoint digest (``folded_seqs`` and ``carried``: the events to fold, in order)."""

    problems: list[Problem]
    messages: int
    events: int
    first: tuple[int, bytes] | None  # the range's first message: sequence, subject
    last_seq: int
    firsts: dict[bytes, tuple[int, int, bytes, int]]
    tails: dict[bytes, tuple[int, bytes]]
    folded_seqs: array[int]
    carried: bytes  # 64 bytes per folded event
    unusual_carried: dict[int, bytes]  # by index: hash headers not of 64 bytes
    checkpoints: list[RawRecord]


class StreamVerifier:
    """Verifies a stream fed to it in order, page by page (a whole log never sits in memory).

    Two ways in, sharing one state: :attr:`frame`, called with each stored message's raw bytes
    as the wire client reads them (the audit's hot path: no header dict, no record object, no
    text decoded per event), and :attr:`record` (:meth:`add` for a page) for
    :class:`RawRecord` s (nats-py reads).
    Both give the same verdict on the same message: a header block not laid out as our writer
    lays it out (reordered, repeated, padded, not ASCII) is decoded exactly as nats-py does.
    """

    def __init__(
        self,
        layout: SubjectLayout,
        *,
        key: bytes = b"",
        signing_keys: Mapping[str, bytes] | None = None,
        range_part: bool = False,
    ) -> None:
        """``range_part``: this verifier sees one range of the log (from any position); its
        :meth:`part` is joined into the whole log's verifier (:meth:`join`)."""
        self.layout = layout
        self.range_part = range_part
        self.key = key
        self.signing_keys = signing_keys
        self.problems: list[Problem] = []
        self._checkpoints: list[RawRecord] = []
        # The running digest after each event folded: its sequence, and the 64 hex digits.
        self._folded_seqs = array("Q")
        self._folded = bytearray()
        self.frame: Frame
        self.record: Callable[[RawRecord], None]
        self._state: Callable[[], tuple[int, int, int]]
        self.part: Callable[..., RangePart]
        self.join: Callable[[RangePart], None]
        self.frame, self.record, self._state, self.part, self.join = self._checker()

    @property
    def messages(self) -> int:
        return self._state()[0]

    @property
    def events(self) -> int:
        return self._state()[1]

    def add(self, records: Iterable[RawRecord]) -> None:
        record = self.record
        for r in records:
            record(r)

    def _checker(
        self,
    ) -> tuple[
        Frame,
        Callable[[RawRecord], None],
        Callable[[], tuple[int, int, int]],
        Callable[..., RangePart],
        Callable[[RangePart], None],
    ]:
        """The verifier's state lives in this closure's cells (read and written like locals, a
        few times faster than attributes: this is the audit's hot loop)."""
        key, problems, checkpoints = self.key, self.problems, self._checkpoints
        checkpoints_subject = self.layout.checkpoints.encode()
        events_prefix = (self.layout.prefix + ".evt.").encode()
        hmac_digest = hmac.digest
        sha256, pack = chain.sha256, chain.SEQUENCE.pack
        small, hash_field = _LENGTHS, chain.HASH_FIELD
        genesis = _GENESIS
        event_headers = _EVENT_HEADERS.search
        tracking_lines = _TRACKING
        folded_seqs, folded = self._folded_seqs.append, self._folded
        tails: dict[bytes, tuple[int, bytes]] = {}  # aggregate subject -> (version, hash)
        topics: dict[bytes, bytes] = {}  # topic as stored -> its length-prefixed field
        messages = events = count = 0
        expected = 1  # our streams start at 1 and deny deletes
        digest = genesis
        # A range's verifier leaves what depends on the log before it to the join: the first
        # message's sequence link, each aggregate's first link, the checkpoint digest's fold.
        in_range = self.range_part
        first: tuple[int, bytes] | None = None
        firsts: dict[bytes, tuple[int, int, bytes, int]] = {}
        unusual_hashes: dict[int, bytes] = {}
        if in_range:
            expected = -1

        def topic_field(topic: bytes) -> bytes:
            """The hashed field of a topic as stored (decoded as nats-py does), made once."""
            made = topics[topic] = chain.length_field(topic.strip().decode("utf-8", "replace"))
            return made

        def link(
            seq: int, subject: bytes, version: int, prev: bytes, tail: tuple[int, bytes]
        ) -> None:
            problems.extend(_links(seq, subject, version, prev, tail))

        def event(
            seq: int,
            subject: bytes,
            v: bytes,
            topic: bytes,
            prev: bytes,
            carried: bytes,
            data: bytes,
        ) -> None:
            nonlocal events
            events += 1
            t_field = topics.get(topic)
            if t_field is None:
                t_field = topic_field(topic)
            body = b"".join(
                (pack(len(prev)), prev, pack(len(subject)), subject, pack(len(v)), v, t_field)
            )
            body += pack(len(data)) + data
            if key:
                digest_of = hmac_digest(key, body, "sha256").hex().encode()
            else:
                digest_of = sha256(body).hexdigest().encode()
            if digest_of != carried:
                problems.append(Problem("altered-event", seq, _text(subject), _ALTERED))
            try:
                version = int(v)
            except ValueError:
                version = -1
                problems.append(Problem("altered-event", seq, _text(subject), "bad version"))
            chained(seq, subject, version, prev, carried)

        def chained(seq: int, subject: bytes, version: int, prev: bytes, carried: bytes) -> None:
            """Check the event's link to its aggregate's previous one; fold it into the digest."""
            nonlocal digest, count
            tail = tails.get(subject)
            if tail is None:
                if in_range:
                    firsts[subject] = (seq, version, prev, len(problems))
                elif prev != genesis:
                    problems.append(Problem("broken-chain", seq, _text(subject), _UNLINKED))
            elif prev != tail[1] or version <= tail[0]:
                link(seq, subject, version, prev, tail)
            tails[subject] = (version, carried)
            if subject.startswith(events_prefix):
                if in_range:  # folded by the join, which knows the digest before the range
                    folded_seqs(seq)
                    if len(carried) == _HEX_DIGEST:
                        folded.extend(carried)
                    else:  # a hash header not of 64 bytes (a finding already): kept apart
                        unusual_hashes[count] = carried
                        folded.extend(bytes(_HEX_DIGEST))
                    count += 1
                    return
                body = b"".join((digest, pack(seq), carried))
                if key:
                    digest = hmac_digest(key, body, "sha256").hex().encode()
                else:
                    digest = sha256(body).hexdigest().encode()
                count += 1
                folded_seqs(seq)
                folded.extend(digest)

        def position(seq: int, subject: bytes) -> bool:
            """Count a message at ``seq``; whether it may hold an event (not a checkpoint)."""
            nonlocal messages, expected
            messages += 1
            if seq != expected:
                gap(seq, subject)
            expected = seq + 1
            return subject != checkpoints_subject

        def gap(seq: int, subject: bytes) -> None:
            nonlocal first
            if expected < 0:  # a range's first message: its link is the join's
                first = (seq, subject)
                return
            kind = "missing-sequence" if seq > expected else "out-of-order"
            problems.append(Problem(kind, seq, _text(subject), f"expected sequence {expected}"))

        def frame(subject: bytes, seq: int, header: bytes, data: bytes) -> None:
            # event() inlined for the common case: the headers as our writer lays them out, each
            # once (the values nats-py reads then), a 64-digit previous hash, a short version.
            nonlocal messages, expected, events
            messages += 1
            if seq != expected:
                gap(seq, subject)
            expected = seq + 1
            m = event_headers(header)
            if m is None or (
                header.count(_ES) != 4
                and not (header.count(_ES) == 6 and all(line in header for line in tracking_lines))
            ):
                unusual(subject, seq, header, data)
                return
            v, topic, prev, carried = m.groups()
            if not (prev.isalnum() and carried.isalnum()):
                unusual(subject, seq, header, data)
                return
            events += 1
            t_field = topics.get(topic)
            if t_field is None:
                t_field = topic_field(topic)
            n = len(data)
            body = b"".join(
                (
                    hash_field,
                    prev,
                    pack(len(subject)),
                    subject,
                    small[len(v)],
                    v,
                    t_field,
                    small[n] if n < SMALL else pack(n),
                    data,
                )
            )
            if key:
                if hmac_digest(key, body, "sha256").hex().encode() != carried:
                    problems.append(Problem("altered-event", seq, _text(subject), _ALTERED))
            elif sha256(body).hexdigest().encode() != carried:
                problems.append(Problem("altered-event", seq, _text(subject), _ALTERED))
            chained(seq, subject, int(v), prev, carried)

        def unusual(subject: bytes, seq: int, header: bytes, data: bytes) -> None:
            """A checkpoint, a tracking position, or headers laid out otherwise."""
            if subject == checkpoints_subject:
                checkpoints.append(RawRecord(seq, subject.decode(), parse_headers(header), data))
            else:
                fields(seq, subject, parse_headers(header), data)

        def fields(seq: int, subject: bytes, h: Mapping[str, str], data: bytes) -> None:
            carried = h.get(HASH)
            if carried is None:
                return  # tracking positions carry no event
            v, topic, prev = h.get(VERSION, ""), h.get(TOPIC, ""), h.get(PREV, "")
            event(seq, subject, v.encode(), topic.encode(), prev.encode(), carried.encode(), data)

        def record(r: RawRecord) -> None:
            subject = r.subject.encode()
            if position(r.seq, subject):
                fields(r.seq, subject, r.headers, r.data)
            else:
                checkpoints.append(r)

        def state() -> tuple[int, int, int]:
            return messages, events, count

        def part(last: bool = False) -> RangePart:
            """``last``: no range follows this one, so its tails are not handed over (no link
            from a later range is checked against them; a third of a part's bytes)."""
            return RangePart(
                problems,
                messages,
                events,
                first,
                expected - 1 if first else 0,
                firsts,
                {} if last else tails,
                self._folded_seqs,
                bytes(folded),
                unusual_hashes,
                checkpoints,
            )

        def join(p: RangePart) -> None:
            """The next range's part, as if its messages had come through :attr:`frame`."""
            nonlocal messages, events, count, expected, digest
            if p.first is None:
                return  # the range held no message
            seq, subject = p.first
            if seq != expected:
                gap(seq, subject)
            linked: list[tuple[int, Problem]] = []
            for subject, (seq, version, prev, at) in p.firsts.items():
                tail = tails.get(subject)
                if tail is None:
                    if prev != genesis:
                        linked.append((at, Problem("broken-chain", seq, _text(subject), _UNLINKED)))
                else:
                    linked.extend(
                        (at, problem) for problem in _links(seq, subject, version, prev, tail)
                    )
            at = 0
            for to, problem in linked:
                problems.extend(p.problems[at:to])
                problems.append(problem)
                at = to
            problems.extend(p.problems[at:])
            tails.update(p.tails)
            carried, unusual_carried, extend = p.carried, p.unusual_carried, folded.extend
            if key or unusual_carried:
                for i, seq in enumerate(p.folded_seqs):
                    hash_ = carried[i * _HEX_DIGEST : (i + 1) * _HEX_DIGEST]
                    if i in unusual_carried:
                        hash_ = unusual_carried[i]
                    body = b"".join((digest, pack(seq), hash_))
                    if key:
                        digest = hmac_digest(key, body, "sha256").hex().encode()
                    else:
                        digest = sha256(body).hexdigest().encode()
                    extend(digest)
            else:  # the common case, its loop kept short: the auditor folds it in series
                at = 0
                for seq in p.folded_seqs:
                    body = digest + pack(seq) + carried[at : at + _HEX_DIGEST]
                    digest = sha256(body).hexdigest().encode()
                    extend(digest)
                    at += _HEX_DIGEST
            self._folded_seqs.extend(p.folded_seqs)
            checkpoints.extend(p.checkpoints)
            messages += p.messages
            events += p.events
            count += len(p.folded_seqs)
            expected = p.last_seq + 1

        return frame, record, state, part, join

    def _digest(self, seq: int) -> tuple[str, int] | None:
        """The running digest after the event at ``seq`` and how many events it folds."""
        seqs = self._folded_seqs
        i = bisect.bisect_left(seqs, seq)
        if i == len(seqs) or seqs[i] != seq:
            return None
        return self._folded[i * _HEX_DIGEST : (i + 1) * _HEX_DIGEST].decode(), i + 1

    def digest_at(self, seq: int) -> str:
        """The running digest over every event up to ``seq`` (GENESIS before the first)."""
        if seq == 0:
            return chain.GENESIS
        found = self._digest(seq)
        return found[0] if found else ""

    def report(self) -> VerificationReport:
        checkpoints = self._checkpoints
        problems = [
            *self.problems,
            *_check_checkpoints(checkpoints, self._digest, self.signing_keys),
        ]
        sealed = _last_covered(checkpoints)
        messages, events, count = self._state()
        at_seal = self._digest(sealed)
        unsealed = count - at_seal[1] if at_seal else count
        return VerificationReport(
            self.layout.stream, messages, events, len(checkpoints), problems, sealed, unsealed
        )


_ALTERED = "content hash differs"
_UNLINKED = "does not link to the previous event"
_BACKWARDS = "version went backwards"


def _links(
    seq: int, subject: bytes, version: int, prev: bytes, tail: tuple[int, bytes]
) -> list[Problem]:
    """What is wrong with an event's link to its aggregate's previous event (``tail``)."""
    found = []
    if prev != tail[1]:
        found.append(Problem("broken-chain", seq, _text(subject), _UNLINKED))
    if version <= tail[0]:
        found.append(Problem("out-of-order", seq, _text(subject), _BACKWARDS))
    return found


def _text(subject: bytes) -> str:
    return subject.decode(errors="replace")


def _last_covered(checkpoints: list[RawRecord]) -> int:
    for r in reversed(checkpoints):
        try:
            return Checkpoint.decode(r.data).upto_seq
        except (ValueError, TypeError, json.JSONDecodeError):
            continue
    return 0


def _check_checkpoints(
    checkpoints: list[RawRecord],
    digest_at: Callable[[int], tuple[str, int] | None],
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
        if digest_at(cp.upto_seq) != (cp.digest, cp.count):
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
