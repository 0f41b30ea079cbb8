"""The audit's hot path (raw message bytes into ``StreamVerifier.frame``) gives the verdict of
the reference path (the header block decoded as nats-py does, into ``StreamVerifier.add``) on
a log the real writer planned, untouched and tampered with in the store's bytes: payloads,
header values, repeated or padded headers, bytes that are not ASCII, removed, reordered and
forged messages, and the checkpoints over them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent, Tracking

from infra.eventstore import chain
from infra.eventstore.checkpoint import Checkpoint
from infra.eventstore.heads import Head, Heads, TrackingState
from infra.eventstore.plan import plan_save, validate
from infra.eventstore.records import RawRecord
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import StreamVerifier, VerificationReport
from infra.eventstore.wire_protocol import parse_headers

LAYOUT = SubjectLayout("UNITFRAMES")
AGGREGATES = [UUID(int=n) for n in range(1, 4)]


@dataclass(frozen=True)
class Stored:
    subject: bytes
    seq: int
    header: bytes
    data: bytes


def _log(key: bytes) -> list[Stored]:
    """Saves as the event store plans them: several aggregates, multi-event saves, one-event
    process saves carrying their position, a tracking message; then a checkpoint."""
    heads = Heads()
    stored: list[Stored] = []
    position = 0

    def save(events: list[StoredEvent], tracking: Tracking | None = None) -> None:
        nonlocal position
        by_aggregate = validate(events, tracking, LAYOUT, max_payload=1 << 20)
        state = TrackingState(position, 0, len(stored)) if tracking else None
        plan = plan_save(
            f"s{len(stored)}",
            by_aggregate,
            tracking,
            heads=heads,
            state=state,
            layout=LAYOUT,
            key=key,
        )
        for m in plan.messages:
            stored.append(Stored(m.subject.encode(), len(stored) + 1, m.header_block(), m.data))
        for subject, head in plan.heads.items():
            heads.advance(subject, Head(head.version, len(stored), head.hash))
        if tracking:
            position = tracking.notification_id

    def event(a: UUID, v: int, state: bytes = b'{"x":1}') -> StoredEvent:
        return StoredEvent(a, v, "domain.odds:Quote.Recorded", state)

    save([event(a, 1) for a in AGGREGATES])
    save([event(AGGREGATES[0], 2, b"y" * 20_000), event(AGGREGATES[0], 3)])
    save([event(AGGREGATES[1], 2)], Tracking("forecaster", 1))  # one message with its position
    save([event(AGGREGATES[2], 2), event(AGGREGATES[1], 3)], Tracking("forecaster", 2))
    for v in range(4, 12):
        save([event(AGGREGATES[0], v, b'{"v":%d}' % v)])
    covered = [s for s in stored if s.subject.startswith(LAYOUT.events[:-1].encode())]
    digest, count = chain.GENESIS, 0
    for s in covered:
        hash_ = parse_headers(s.header)["Es-Hash"]
        digest = chain.checkpoint_digest(key=key, prev_digest=digest, seq=s.seq, hash_=hash_)
        count += 1
    checkpoint = Checkpoint(covered[-1].seq, count, digest, chain.GENESIS)
    header = b"NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 0\r\n\r\n"
    stored.append(Stored(LAYOUT.checkpoints.encode(), len(stored) + 1, header, checkpoint.encode()))
    return stored


def _by_frames(log: list[Stored], key: bytes) -> VerificationReport:
    verifier = StreamVerifier(LAYOUT, key=key)
    for s in log:
        verifier.frame(s.subject, s.seq, s.header, s.data)
    return verifier.report()


def _by_records(log: list[Stored], key: bytes) -> VerificationReport:
    verifier = StreamVerifier(LAYOUT, key=key)
    verifier.add(RawRecord(s.seq, s.subject.decode(), parse_headers(s.header), s.data) for s in log)
    return verifier.report()


def _verdict(report: VerificationReport) -> tuple[object, ...]:
    problems = sorted((p.kind, p.seq, p.subject, p.detail) for p in report.problems)
    return report.messages, report.events, report.checkpoints, report.unsealed, problems


def _header(s: Stored, change: Callable[[bytes], bytes]) -> Stored:
    return Stored(s.subject, s.seq, change(s.header), s.data)


def _hash_of(s: Stored) -> bytes:
    return parse_headers(s.header)["Es-Hash"].encode()


FIRST, BIG, TRACKED = 0, 3, 5  # an aggregate's first event, a 20 kB one, one with a position


def _tampered(log: list[Stored]) -> dict[str, list[Stored]]:
    def at(i: int, changed: Stored) -> list[Stored]:
        return [*log[:i], changed, *log[i + 1 :]]

    big, first, tracked = log[BIG], log[FIRST], log[TRACKED]
    flipped = bytes([big.data[100] ^ 1])
    hash_ = _hash_of(first)
    other = _hash_of(log[1])
    return {
        "payload byte": at(
            BIG, Stored(big.subject, big.seq, big.header, big.data[:100] + flipped + big.data[101:])
        ),
        "hash digit": at(
            FIRST,
            _header(
                first,
                lambda h: h.replace(
                    hash_, hash_[:-1] + b"0" if hash_[-1:] != b"0" else hash_[:-1] + b"1"
                ),
            ),
        ),
        "second hash header, last one read": at(
            FIRST, _header(first, lambda h: h[:-2] + b"Es-Hash: " + other + b"\r\n\r\n")
        ),
        "second hash header, same value": at(
            FIRST, _header(first, lambda h: h[:-2] + b"Es-Hash: " + hash_ + b"\r\n\r\n")
        ),
        "padded header name": at(
            FIRST, _header(first, lambda h: h[:-2] + b" Es-Hash: " + other + b"\r\n\r\n")
        ),
        "padded values": at(
            FIRST,
            _header(
                first,
                lambda h: h.replace(b"Es-Hash: ", b"Es-Hash:\t  ").replace(
                    b"Es-Version: 1", b"Es-Version:  1 "
                ),
            ),
        ),
        "uppercase hex": at(FIRST, _header(first, lambda h: h.replace(hash_, hash_.upper()))),
        "topic not utf-8": at(
            FIRST, _header(first, lambda h: h.replace(b"Quote.Recorded", b"Quote.\xffRecorded"))
        ),
        "prev not ascii": at(
            TRACKED, _header(tracked, lambda h: h.replace(b"Es-Prev: ", b"Es-Prev: \xc3\xa9", 1))
        ),
        "prev of 64 bytes ending in a space": at(
            TRACKED, _header(tracked, lambda h: _last_digit(h, b"Es-Prev: ", b" "))
        ),
        "prev ending in a space, hash made over the bytes as stored": at(
            TRACKED, _rehashed(_header(tracked, lambda h: _last_digit(h, b"Es-Prev: ", b" ")))
        ),
        "hash of 64 bytes with a byte not ascii": at(
            FIRST, _header(first, lambda h: _last_digit(h, b"Es-Hash: ", b"\xe9"))
        ),
        "version not a number": at(
            FIRST, _header(first, lambda h: h.replace(b"Es-Version: 1", b"Es-Version: one"))
        ),
        "version with a unicode digit": at(
            FIRST,
            _header(first, lambda h: h.replace(b"Es-Version: 1", "Es-Version: \u0661".encode())),
        ),
        "headers reordered": at(FIRST, _header(first, _swap_prev_and_hash)),
        "tracking header repeated": at(
            TRACKED, _header(tracked, lambda h: h[:-2] + b"Es-Tracking: 9\r\n\r\n")
        ),
        "removed": log[:4] + log[5:],
        "reordered": [
            *log[:2],
            Stored(log[3].subject, log[2].seq, log[3].header, log[3].data),
            Stored(log[2].subject, log[3].seq, log[2].header, log[2].data),
            *log[4:],
        ],
        "newest of an aggregate removed": [s for s in log if s.seq != len(log) - 1],
        "forged with its hash recomputed": at(BIG, _forged(big)),
    }


def _last_digit(h: bytes, name: bytes, replacement: bytes) -> bytes:
    """``h`` with the last of the 64 digits of header ``name`` replaced."""
    at = h.index(name) + len(name) + 63
    return h[:at] + replacement + h[at + 1 :]


def _rehashed(s: Stored) -> Stored:
    """``s`` with an Es-Hash made over its header values as stored, unstripped."""
    values = {
        line.split(b":", 1)[0]: line.split(b": ", 1)[1].decode()
        for line in s.header.split(b"\r\n")[1:]
        if b": " in line
    }
    digest = chain.event_hash(
        key=b"",
        prev=values[b"Es-Prev"],
        aggregate=s.subject.decode(),
        version=int(values[b"Es-Version"]),
        topic=values[b"Es-Topic"],
        state=s.data,
    )
    header = s.header.replace(values[b"Es-Hash"].encode(), digest.encode())
    return Stored(s.subject, s.seq, header, s.data)


def _swap_prev_and_hash(h: bytes) -> bytes:
    lines = h.split(b"\r\n")
    i = next(n for n, line in enumerate(lines) if line.startswith(b"Es-Prev:"))
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return b"\r\n".join(lines)


def _forged(s: Stored) -> Stored:
    h = parse_headers(s.header)
    data = b'{"forged":true}'
    digest = chain.event_hash(
        key=b"",
        prev=h["Es-Prev"],
        aggregate=s.subject.decode(),
        version=int(h["Es-Version"]),
        topic=h["Es-Topic"],
        state=data,
    )
    return Stored(s.subject, s.seq, s.header.replace(h["Es-Hash"].encode(), digest.encode()), data)


@pytest.mark.parametrize("key", [b"", b"chain-key"])
def test_the_untouched_log_verifies_alike_both_ways(key: bytes) -> None:
    log = _log(key)
    report = _by_frames(log, key)
    assert report.ok, report.problems
    assert (report.events, report.checkpoints, report.unsealed) == (len(log) - 2, 1, 0)
    assert _verdict(report) == _verdict(_by_records(log, key))


@pytest.mark.parametrize("case", sorted(_tampered(_log(b""))))
def test_each_tampering_gets_the_reference_verdict(case: str) -> None:
    log = _tampered(_log(b""))[case]
    by_frames = _by_frames(log, b"")
    assert _verdict(by_frames) == _verdict(_by_records(log, b""))
    harmless = {  # the same values, laid out otherwise: nothing a reader sees has changed
        "second hash header, same value",
        "padded values",
        "tracking header repeated",
        "headers reordered",
    }
    assert by_frames.ok == (case in harmless), by_frames.problems
