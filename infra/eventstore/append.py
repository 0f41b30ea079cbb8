"""Appending one save: plan its messages, publish them, retry through faults, resolve doubts.

Guarantees (docs/adr/0004): each aggregate's first new event expects the aggregate subject's
last sequence to be the known head (0 for a new aggregate), so two writers of one version cannot
both win; several messages go in one atomic batch; a retry after an unanswered publish that
meets a conflict looks for its own Nats-Msg-Id before reporting one, so a retried publish never
stores an event twice and never reports a false conflict.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
from eventsourcing.persistence import StoredEvent, Tracking
from nats.aio.client import Client as NATS

from infra.eventstore import chain
from infra.eventstore.coalescer import MAX_BATCH_MESSAGES, BatchCoalescer
from infra.eventstore.errors import (
    ConcurrencyConflict,
    DuplicateEventInSave,
    EventsOutOfOrder,
    EventStoreUnavailable,
    EventTooLarge,
    SaveTooLarge,
    TrackingConflict,
)
from infra.eventstore.heads import Head, Heads
from infra.eventstore.publish import (
    DUPLICATE_MSG_ID_IN_BATCH,
    EXPECTED_LAST_SUBJECT_SEQUENCE,
    Acks,
    Message,
    PublishRejected,
    publish_one,
)
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import HASH, MSG_ID, PREV, TOPIC, TRACKING, VERSION
from infra.eventstore.subjects import SubjectLayout

# Faults after which a publish may or may not have been stored.
_TRANSPORT_ERRORS = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    asyncio.TimeoutError,
)
_HEADER_OVERHEAD = 512  # batch, expectation and server headers added after our check


@dataclass(frozen=True, slots=True)
class _Plan:
    messages: list[Message]
    heads: dict[str, Head]  # aggregate subject -> head after this save
    tracking_head: Head | None


class Appender:
    def __init__(
        self,
        nc: NATS,
        reader: DirectReader,
        layout: SubjectLayout,
        *,
        chain_key: bytes,
        save_timeout: float,
    ) -> None:
        self._nc = nc
        self._reader = reader
        self._layout = layout
        self._key = chain_key
        self._save_timeout = save_timeout
        self._attempt_timeout = min(2.0, save_timeout)
        self._heads = Heads()
        self._tracking_heads = Heads()
        self._acks = Acks(nc)
        self._batches = BatchCoalescer(nc, timeout=self._attempt_timeout, acks=self._acks)
        # Save ids (the Nats-Msg-Id stem): a random 96-bit prefix per appender and a counter,
        # as unique as uuid4 per save without an os.urandom call per save.
        self._save_prefix = secrets.token_hex(12)
        self._save_counter = itertools.count(1)

    def remember(self, subject: str, head: Head) -> None:
        self._heads.advance(subject, head)

    def _new_save_id(self) -> str:
        return f"{self._save_prefix}{next(self._save_counter):08x}"

    async def append(
        self, events: Sequence[StoredEvent], tracking: Tracking | None = None
    ) -> list[int]:
        by_aggregate = self._validate(events, room=MAX_BATCH_MESSAGES - (tracking is not None))
        save_id = self._new_save_id()
        deadline = time.monotonic() + self._save_timeout
        maybe_stored = False  # an earlier attempt went unanswered
        refresh = False
        conflicts = 0
        while True:
            plan = await self._plan(save_id, by_aggregate, tracking, refresh=refresh)
            try:
                if len(plan.messages) == 1:
                    timeout = self._attempt_timeout
                    message = plan.messages[0]
                    seqs = [await publish_one(self._nc, message, ack_wait=timeout, acks=self._acks)]
                else:
                    seqs = await self._batches.commit(plan.messages)
            except PublishRejected as rejected:
                duplicate = rejected.err_code == DUPLICATE_MSG_ID_IN_BATCH
                if not (rejected.is_wrong_last_sequence or duplicate):
                    if maybe_stored and time.monotonic() < deadline:
                        continue  # e.g. a batch cut short by a reconnect: send it again
                    raise
                if maybe_stored or duplicate:
                    stored = await self._find_own(save_id, plan)
                    if stored is not None:
                        self._advance(plan, stored)
                        return stored
                conflicts += 1
                if conflicts > 5:
                    raise ConcurrencyConflict(f"save kept conflicting: {rejected}") from rejected
                refresh = True  # our heads were old: read them and check again
                continue
            except _TRANSPORT_ERRORS as exc:
                maybe_stored = True
                if time.monotonic() >= deadline:
                    raise EventStoreUnavailable(
                        f"NATS did not acknowledge the save within {self._save_timeout:.0f}s "
                        f"({type(exc).__name__}); it was stored entirely or not at all"
                    ) from exc
                await asyncio.sleep(0.05)
                continue
            self._advance(plan, seqs)
            return seqs

    def _validate(
        self, events: Sequence[StoredEvent], *, room: int
    ) -> dict[str, list[StoredEvent]]:
        if len(events) > room:
            raise SaveTooLarge(
                f"a save holds {len(events)} events; at most {room} fit in one atomic batch"
            )
        limit = self._nc.max_payload - _HEADER_OVERHEAD
        by_aggregate: dict[str, list[StoredEvent]] = {}
        for e in events:
            size = len(e.state) + len(e.topic)
            if size > limit:
                raise EventTooLarge(
                    f"event {e.topic} v{e.originator_version} of {e.originator_id} is "
                    f"{size} bytes; the NATS server accepts at most {limit} per event"
                )
            subject = self._layout.aggregate(e.originator_id)
            same = by_aggregate.setdefault(subject, [])
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

    async def _plan(
        self,
        save_id: str,
        by_aggregate: dict[str, list[StoredEvent]],
        tracking: Tracking | None,
        *,
        refresh: bool,
    ) -> _Plan:
        if refresh:
            await asyncio.gather(*(self._read_head(s) for s in by_aggregate))
        messages, heads = self._plan_events(save_id, by_aggregate)
        tracking_head = None
        if tracking is not None:
            tracking_head = await self._tracking_message(
                save_id, len(messages), tracking, messages, refresh=refresh
            )
        return _Plan(messages, heads, tracking_head)

    def _plan_events(
        self, save_id: str, by_aggregate: dict[str, list[StoredEvent]]
    ) -> tuple[list[Message], dict[str, Head]]:
        """The event messages of a save, chained to and expecting the cached heads."""
        messages: list[Message] = []
        heads: dict[str, Head] = {}
        index = 0
        for subject, events in by_aggregate.items():
            head = self._heads.get(subject)
            first = events[0].originator_version
            if head is not None and head.version >= first:
                raise ConcurrencyConflict(
                    f"{events[0].originator_id} is already at version {head.version}; "
                    f"cannot append version {first}"
                )
            prev = head.hash if head else chain.GENESIS
            expected = str(head.seq if head else 0)
            for i, e in enumerate(events):
                digest = chain.event_hash(
                    key=self._key,
                    prev=prev,
                    aggregate=subject,
                    version=e.originator_version,
                    topic=e.topic,
                    state=e.state,
                )
                headers = {
                    MSG_ID: f"{save_id}-{index}",
                    VERSION: str(e.originator_version),
                    TOPIC: e.topic,
                    PREV: prev,
                    HASH: digest,
                }
                if i == 0:
                    headers[EXPECTED_LAST_SUBJECT_SEQUENCE] = expected
                messages.append(Message(subject, e.state, headers))
                prev = digest
                index += 1
            heads[subject] = Head(events[-1].originator_version, 0, prev)
        return messages, heads

    async def _tracking_message(
        self,
        save_id: str,
        index: int,
        tracking: Tracking,
        messages: list[Message],
        *,
        refresh: bool,
    ) -> Head:
        subject = self._layout.tracking(tracking.application_name)
        head = self._tracking_heads.get(subject)
        if head is None or refresh:
            head = await self.read_tracking_head(subject)
        if head is not None and head.version >= tracking.notification_id:
            raise TrackingConflict(
                f"{tracking.application_name} already processed notification "
                f"{head.version}; cannot record {tracking.notification_id}"
            )
        headers = {
            MSG_ID: f"{save_id}-{index}",
            TRACKING: str(tracking.notification_id),
            EXPECTED_LAST_SUBJECT_SEQUENCE: str(head.seq if head else 0),
        }
        messages.append(Message(subject, b"", headers))
        return Head(tracking.notification_id, 0, subject)

    async def _read_head(self, subject: str) -> None:
        last = await self._reader.last(subject)
        if last is not None:
            self._heads.advance(
                subject, Head(int(last.headers[VERSION]), last.seq, last.headers[HASH])
            )

    async def read_tracking_head(self, subject: str) -> Head | None:
        last = await self._reader.last(subject)
        if last is None:
            return None
        head = Head(int(last.headers[TRACKING]), last.seq, subject)
        self._tracking_heads.advance(subject, head)
        return head

    async def _find_own(self, save_id: str, plan: _Plan) -> list[int] | None:
        """The sequences of this save if an earlier, unanswered attempt stored it."""
        first = plan.messages[0]
        expected = int(first.headers.get(EXPECTED_LAST_SUBJECT_SEQUENCE, "0"))
        found = await self._reader.next_after(first.subject, expected)
        if found is None or found.headers.get(MSG_ID) != first.headers[MSG_ID]:
            return None
        # An atomic batch is stored at consecutive sequences, in the order it was sent.
        return list(range(found.seq, found.seq + len(plan.messages)))

    def _advance(self, plan: _Plan, seqs: list[int]) -> None:
        for message, seq in zip(plan.messages, seqs, strict=True):
            if TRACKING in message.headers:
                assert plan.tracking_head is not None
                self._tracking_heads.advance(
                    message.subject, Head(plan.tracking_head.version, seq, message.subject)
                )
            elif message.subject in plan.heads:
                planned = plan.heads[message.subject]
                if message.headers[HASH] == planned.hash:
                    self._heads.advance(message.subject, Head(planned.version, seq, planned.hash))
