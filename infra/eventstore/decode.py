"""Stored messages, as the wire path hands them over, turned into eventsourcing's records.

Each decoder is one closure called per message with (subject, stream sequence, header block,
payload), the hot loop of every bulk read: the two headers it needs are found with ``rfind``
(the last occurrence, as in nats-py's header dict) without building a dict, and topics and
originator ids are decoded once per distinct value.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from infra.eventstore.records import (
    TOPIC,
    VERSION,
    make_notification,
    make_stored_event,
    traced,
)
from infra.eventstore.tracecontext import HEADERS as TRACE_HEADERS

CRLF = b"\r\n"
_TOPIC_KEY = b"\r\n" + TOPIC.encode() + b":"
_VERSION_KEY = b"\r\n" + VERSION.encode() + b":"
_TRACE_KEYS = [(name, b"\r\n" + name.encode() + b":") for name in TRACE_HEADERS]
_TRACEPARENT_KEY = _TRACE_KEYS[0][1]
_TOPIC_SKIP = len(_TOPIC_KEY)
_VERSION_SKIP = len(_VERSION_KEY)


def version_and_topic(header: bytes) -> tuple[int, bytes]:
    """An event message's version and raw topic (stripped), the decoders' parse on its own."""
    i = header.rfind(_TOPIC_KEY)
    j = header.rfind(_VERSION_KEY)
    if i < 0 or j < 0:
        raise KeyError(TOPIC if i < 0 else VERSION)
    i += _TOPIC_SKIP
    j += _VERSION_SKIP
    return int(header[j : header.find(CRLF, j)]), header[i : header.find(CRLF, i)].strip()


def stored_event_decoder(
    originator_id: UUID | str, *, gt: int | None, lte: int | None
) -> Callable[[bytes, int, bytes, bytes], StoredEvent | None]:
    """One aggregate's events, those with ``gt < version <= lte`` (None: unbounded)."""
    topics: dict[bytes, str] = {}
    low = -1 if gt is None else gt
    high = lte
    make = make_stored_event

    def decode(_subject: bytes, _seq: int, header: bytes, data: bytes) -> StoredEvent | None:
        j = header.rfind(_VERSION_KEY)
        i = header.rfind(_TOPIC_KEY)
        if i < 0 or j < 0:
            raise KeyError(TOPIC if i < 0 else VERSION)
        j += _VERSION_SKIP
        version = int(header[j : header.find(CRLF, j)])  # int() ignores surrounding spaces
        if version <= low or (high is not None and version > high):
            return None
        i += _TOPIC_SKIP
        raw_topic = header[i : header.find(CRLF, i)]
        topic = topics.get(raw_topic)
        if topic is None:
            topic = topics[raw_topic] = raw_topic.strip().decode()
        return make(originator_id, version, topic, data)

    return decode


def notification_decoder(
    events_prefix: bytes,
    originator_id: Callable[[str], UUID | str],
    wanted: Container[str],
) -> Callable[[bytes, int, bytes, bytes], Notification | None]:
    """Notifications from the messages on subjects under ``events_prefix`` (others - tracking
    positions, checkpoints, snapshots - are left out), of the ``wanted`` topics (empty: all)."""
    topics: dict[bytes, str] = {}
    originators: dict[bytes, UUID | str] = {}
    make = make_notification
    every = not wanted

    def decode(subject: bytes, seq: int, header: bytes, data: bytes) -> Notification | None:
        oid = originators.get(subject)
        if oid is None and not subject.startswith(events_prefix):
            return None
        i = header.rfind(_TOPIC_KEY)
        j = header.rfind(_VERSION_KEY)
        if i < 0 or j < 0:
            raise KeyError(TOPIC if i < 0 else VERSION)
        i += _TOPIC_SKIP
        raw_topic = header[i : header.find(CRLF, i)]
        topic = topics.get(raw_topic)
        if topic is None:
            topic = topics[raw_topic] = raw_topic.strip().decode()
        if not every and topic not in wanted:
            return None  # before the originator id is parsed: skipped ones cost no UUID
        if oid is None:
            oid = originators[subject] = originator_id(subject.decode())
        j += _VERSION_SKIP
        n = make(seq, oid, int(header[j : header.find(CRLF, j)]), topic, data)
        if _TRACEPARENT_KEY in header:
            return traced(n, trace_of(header))
        return n

    return decode


def trace_of(header: bytes) -> dict[str, str]:
    """The W3C trace context headers in a header block."""
    out = {}
    for name, key in _TRACE_KEYS:
        i = header.rfind(key)
        if i >= 0:
            i += len(key)
            out[name] = header[i : header.find(CRLF, i)].strip().decode()
    return out
