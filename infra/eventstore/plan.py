"""Planning one save: the messages it is stored as, each chained to and expecting what is known.

Each aggregate's first new event expects the aggregate subject's last sequence to be its known
head (0 for a new aggregate); every event names its predecessor's hash. A save that records a
tracking position carries it on its one event message, or as a message of its own on the
application's tracking subject, and its first message expects the stream's last sequence to be
the one up to which the writer knows every recorded position (docs/adr/0004).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcing.persistence import StoredEvent, Tracking

from infra.eventstore import chain
from infra.eventstore.coalescer import MAX_BATCH_MESSAGES
from infra.eventstore.errors import (
    ConcurrencyConflict,
    DuplicateEventInSave,
    EventsOutOfOrder,
    EventTooLarge,
    LineBreakInHeader,
    SaveTooLarge,
    TrackingConflict,
)
from infra.eventstore.heads import Head, Heads, TrackingState
from infra.eventstore.publish import (
    EXPECTED_LAST_SEQUENCE,
    EXPECTED_LAST_SUBJECT_SEQUENCE,
    Message,
)
from infra.eventstore.records import (
    HASH,
    MSG_ID,
    PREV,
    TOPIC,
    TRACKING,
    TRACKING_APP,
    VERSION,
)
from infra.eventstore.subjects import SubjectLayout

_HEADER_OVERHEAD = 512  # batch, expectation and server headers added after our check


class EventsByAggregate(dict[str, list[StoredEvent]]):
    """A save's events by aggregate subject, and the subject of each event in the order the
    save gave them: the order they are stored in (the log's order is the application's)."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []


@dataclass(frozen=True, slots=True)
class Plan:
    messages: list[Message]
    heads: dict[str, Head]  # aggregate subject -> head after this save
    tracking: Tracking | None
    tracking_subject: str | None  # the tracking subject, if a message of its own records it


def validate(
    events: Sequence[StoredEvent],
    tracking: Tracking | None,
    layout: SubjectLayout,
    *,
    max_payload: int,
) -> EventsByAggregate:
    """A save's events by aggregate subject, refused before anything is written if unfit."""
    room = MAX_BATCH_MESSAGES - (tracking is not None)
    if len(events) > room:
        raise SaveTooLarge(
            f"a save holds {len(events)} events; at most {room} fit in one atomic batch"
        )
    if tracking is not None and _has_line_break(tracking.application_name):
        raise LineBreakInHeader(f"application name {tracking.application_name!r}")
    limit = max_payload - _HEADER_OVERHEAD
    by_aggregate = EventsByAggregate()
    order = by_aggregate.order
    last_id: object = None
    last_subject = ""
    same: list[StoredEvent] = []
    topics_seen: set[str] = set()
    for e in events:
        size = len(e.state) + len(e.topic)
        if size > limit:
            raise EventTooLarge(
                f"event {e.topic} v{e.originator_version} of {e.originator_id} is "
                f"{size} bytes; the NATS server accepts at most {limit} per event"
            )
        if e.topic not in topics_seen:
            if _has_line_break(e.topic):
                raise LineBreakInHeader(f"topic {e.topic!r}")
            topics_seen.add(e.topic)
        if e.originator_id != last_id or not same:
            last_id = e.originator_id
            last_subject = layout.aggregate(e.originator_id)
            same = by_aggregate.setdefault(last_subject, [])
        order.append(last_subject)
        if same and same[-1].originator_version >= e.originator_version:
            if same[-1].originator_version == e.originator_version or any(
                s.originator_version == e.originator_version for s in same
            ):
                raise DuplicateEventInSave(
                    f"version {e.originator_version} of {e.originator_id} appears twice"
                )
            raise EventsOutOfOrder(
                f"events of {e.originator_id} must be in ascending version order"
            )
        same.append(e)
    return by_aggregate


def plan_save(
    save_id: str,
    by_aggregate: EventsByAggregate,
    tracking: Tracking | None,
    *,
    heads: Heads,
    state: TrackingState | None,
    layout: SubjectLayout,
    key: bytes,
) -> Plan:
    """The messages of a save from what is known now (raises the clashes it can see).

    ``state``: what the writer knows of ``tracking``'s application (needed with ``tracking``).
    """
    messages, after = plan_events(save_id, by_aggregate, heads, key=key)
    if tracking is None:
        return Plan(messages, after, None, None)
    assert state is not None
    if state.notification_id >= tracking.notification_id:
        raise TrackingConflict(
            f"{tracking.application_name} already processed notification "
            f"{state.notification_id}; cannot record {tracking.notification_id}"
        )
    position = str(tracking.notification_id)
    tracking_subject = None
    if len(messages) == 1:
        # One event: the event message carries the position (one plain publish).
        messages[0].add_header(TRACKING, position)
        messages[0].add_header(TRACKING_APP, tracking.application_name)
    else:
        tracking_subject = layout.tracking(tracking.application_name)
        headers = {
            MSG_ID: f"{save_id}-{len(messages)}",
            TRACKING: position,
            EXPECTED_LAST_SUBJECT_SEQUENCE: str(state.subject_seq),
        }
        messages.append(Message(tracking_subject, b"", headers))
    # Nothing may be stored between what this writer knows and this save (ADR 0004).
    messages[0].add_header(EXPECTED_LAST_SEQUENCE, str(state.through))
    return Plan(messages, after, tracking, tracking_subject)


def plan_events(
    save_id: str, by_aggregate: EventsByAggregate, heads: Heads, *, key: bytes
) -> tuple[list[Message], dict[str, Head]]:
    """The event messages of a save, chained to and expecting the cached heads, in the order
    the save gave the events."""
    per_subject: dict[str, list[Message]] = {}
    after: dict[str, Head] = {}
    index = 0
    for subject, events in by_aggregate.items():
        head = heads.get(subject)
        first = events[0].originator_version
        if head is not None and head.version >= first:
            raise ConcurrencyConflict(
                f"{events[0].originator_id} is already at version {head.version}; "
                f"cannot append version {first}"
            )
        prev = head.hash if head else chain.GENESIS
        digests = chain.chained_hashes(
            key=key,
            prev=prev,
            aggregate=subject,
            events=[(e.originator_version, e.topic, e.state) for e in events],
        )
        # The first event of each aggregate expects its head (ADR 0004).
        check = f"{EXPECTED_LAST_SUBJECT_SEQUENCE}: {head.seq if head else 0}\r\n"
        messages = per_subject[subject] = []
        for e, digest in zip(events, digests, strict=True):
            version = str(e.originator_version)
            msg_id = f"{save_id}-{index}"
            headers = {
                MSG_ID: msg_id,
                VERSION: version,
                TOPIC: e.topic,
                PREV: prev,
                HASH: digest,
            }
            # Topics were checked for line breaks (``_validate``); the rest are ours.
            lines = (
                f"{MSG_ID}: {msg_id}\r\n{VERSION}: {version}\r\n{TOPIC}: {e.topic}\r\n"
                f"{PREV}: {prev}\r\n{HASH}: {digest}\r\n"
            )
            if check:
                headers[EXPECTED_LAST_SUBJECT_SEQUENCE] = str(head.seq if head else 0)
                lines += check
                check = ""
            messages.append(Message(subject, e.state, headers, lines))
            prev = digest
            index += 1
        after[subject] = Head(events[-1].originator_version, 0, prev)
    if len(per_subject) == 1:
        return messages, after
    queued = {subject: iter(m) for subject, m in per_subject.items()}
    return [next(queued[subject]) for subject in by_aggregate.order], after


def _has_line_break(value: str) -> bool:
    return "\n" in value or "\r" in value
