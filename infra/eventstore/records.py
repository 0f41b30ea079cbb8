"""What one stored message means: an event, a tracking position or a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from nats.aio.msg import Msg

from infra.eventstore.subjects import SubjectLayout

VERSION = "Es-Version"
TOPIC = "Es-Topic"
PREV = "Es-Prev"
HASH = "Es-Hash"
TRACKING = "Es-Tracking"
MSG_ID = "Nats-Msg-Id"
SEQUENCE = "Nats-Sequence"
SUBJECT = "Nats-Subject"


@dataclass(frozen=True, slots=True)
class EventRecord:
    seq: int
    subject: str
    originator_id: UUID | str
    version: int
    topic: str
    state: bytes
    prev: str
    hash: str
    msg_id: str


@dataclass(frozen=True, slots=True)
class TrackingRecord:
    seq: int
    subject: str
    notification_id: int
    msg_id: str


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Any stored message, as the verifier sees it."""

    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


def raw_record(msg: Msg) -> RawRecord:
    headers = msg.headers or {}
    return RawRecord(int(headers[SEQUENCE]), headers[SUBJECT], dict(headers), msg.data)


def event_record(layout: SubjectLayout, raw: RawRecord) -> EventRecord:
    h = raw.headers
    return EventRecord(
        seq=raw.seq,
        subject=raw.subject,
        originator_id=layout.originator_id(raw.subject),
        version=int(h[VERSION]),
        topic=h[TOPIC],
        state=raw.data,
        prev=h.get(PREV, ""),
        hash=h.get(HASH, ""),
        msg_id=h.get(MSG_ID, ""),
    )


def tracking_record(raw: RawRecord) -> TrackingRecord:
    return TrackingRecord(
        raw.seq, raw.subject, int(raw.headers[TRACKING]), raw.headers.get(MSG_ID, "")
    )
