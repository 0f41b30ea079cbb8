"""The recorders' reads over our own protocol client (wire.py), or None where it cannot serve.

Short reads are Direct Get batches. A read that will pass more than ``CONSUMER_FROM`` messages
continues through an ephemeral pull consumer, whose delivery costs the server about a quarter
of a Direct Get's time per message (measured 4 vs 15 us on our machines; ~1 ms to create): an
aggregate's events when its known head says it is long or a first Direct Get batch says more
remain, and the rest of a notification page likewise. If the server refuses a consumer (limits,
permissions, no meta leader), reads stay on Direct Get for a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.persistence import Notification

from infra.eventstore.decode import notification_decoder
from infra.eventstore.records import HASH, SEQUENCE, SUBJECT, TOPIC, VERSION
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.wire import (
    Consumed,
    ConvertConsumed,
    DirectGetFailed,
    Frame,
    Reply,
    WireClient,
    WireError,
    WireUnsupported,
    as_frame,
    header_value,
)

T = TypeVar("T")
log = logging.getLogger("sportcast.eventstore")

# Messages asked for per Direct Get batch; the end-of-batch frame says how many more match, so
# a read needs one more request only if there are more.
WIRE_BATCH = 10_000
# A read expected to pass this many more messages goes on through a consumer.
CONSUMER_FROM = 512
# The first Direct Get batch of a notification read asking for more (~15 us a message on the
# server, against the consumer's ~1 ms creation and ~4 us a message).
PROBE = 64
# A read filtered by topic cannot know how many messages hold the notifications it lacks: it
# first asks for this many messages per missing notification, then this many times more on
# each further request (at most WIRE_BATCH), so a small filtered page reads little.
FILTER_FIRST = 4
FILTER_GROWTH = 4
READ_WAIT = 10.0
_CONSUMER_IDLE_NS = 10_000_000_000  # a consumer left behind (a crashed reader) goes after 10 s
_CONSUMERS_PAUSE = 60.0  # seconds of Direct Get only after the server refused a consumer

NATS_SEQUENCE = SEQUENCE.encode()
NATS_SUBJECT = SUBJECT.encode()
ES_VERSION = VERSION.encode()
ES_TOPIC = TOPIC.encode()
ES_HASH = HASH.encode()


class WireReads:
    """``client=None``: every read goes through nats-py (the link chose so, and logged why)."""

    def __init__(self, client: WireClient | None, layout: SubjectLayout) -> None:
        self.layout = layout
        self.client = client
        self._paused_until = 0.0
        self._consumers_paused_until = 0.0

    # -- aggregates -----------------------------------------------------------------------

    def scan(
        self, subject: str, convert: ConvertConsumed[T], *, expected: int = 0
    ) -> tuple[list[T], int, bytes] | None:
        """What ``convert`` makes of every stored message on ``subject``, in stream order, the
        last message's sequence and its header block (None: use nats-py). ``expected``: how
        many there are thought to be (0: unknown)."""
        items: list[T] = []
        seq = 1
        last_seq = 0
        last_header = b""

        def direct(header: bytes, data: bytes) -> T | None:
            return convert(b"", 0, header, data)  # neither is needed for one subject's events

        if expected < CONSUMER_FROM:
            request = {"seq": seq, "next_by_subj": subject, "batch": CONSUMER_FROM}
            reply = self.request(request, direct)
            if reply is None:
                return None
            if not reply.messages:
                return items, 0, b""
            items.extend(reply.items)
            last_seq = _sequence(reply)
            last_header = reply.last_header
            if not _more(reply, CONSUMER_FROM):
                return items, last_seq, last_header
            seq = last_seq + 1
            if reply.num_pending is not None and reply.num_pending < CONSUMER_FROM:
                return self._scan_direct(subject, direct, items, seq, last_header)

        got = self.consume({"filter_subject": subject}, seq, convert, limit=1 << 62)
        if got is None:
            return self._scan_direct(subject, direct, items, seq, last_header)
        items.extend(got.items)
        if not got.messages:
            return items, last_seq, last_header
        return items, got.last_seq, got.last_header

    def _scan_direct(
        self,
        subject: str,
        convert: Callable[[bytes, bytes], T | None],
        items: list[T],
        seq: int,
        last_header: bytes,
    ) -> tuple[list[T], int, bytes] | None:
        last_seq = seq - 1
        while True:
            request = {"seq": seq, "next_by_subj": subject, "batch": WIRE_BATCH}
            reply = self.request(request, convert)
            if reply is None:
                return None
            items.extend(reply.items)
            if reply.messages:
                last_seq = _sequence(reply)
                last_header = reply.last_header
            if not _more(reply, WIRE_BATCH):
                return items, last_seq, last_header
            seq = last_seq + 1

    def last(self, subject: str) -> Frame | bool | None:
        """The last message on ``subject`` (None: there is none; False: use nats-py)."""
        reply = self.request({"last_by_subj": subject}, as_frame, single=True)
        if reply is None:
            return False
        return reply.items[0] if reply.items else None

    # -- the global order -----------------------------------------------------------------

    def notifications(
        self, seq: int, limit: int, stop: int | None, wanted: set[str]
    ) -> list[Notification] | None:
        out: list[Notification] = []
        events_prefix = self.layout.events[:-1].encode()  # b"es.<stream>.evt."
        consumed = notification_decoder(events_prefix, self.layout.originator_id, wanted)
        value = header_value

        def direct(header: bytes, data: bytes) -> Notification | None:
            subject = _need(value(header, NATS_SUBJECT), NATS_SUBJECT)
            seq = int(_need(value(header, NATS_SEQUENCE), NATS_SEQUENCE))
            return consumed(subject, seq, header, data)

        pending: int | None = None  # messages known to remain after ``seq - 1``
        per_missing = FILTER_FIRST if wanted else 1  # messages asked per missing notification
        while len(out) < limit and (stop is None or seq <= stop):
            ask = min((limit - len(out)) * per_missing, WIRE_BATCH)
            if wanted:
                per_missing = min(per_missing * FILTER_GROWTH, WIRE_BATCH)
            if stop is not None:
                ask = min(ask, stop - seq + 1)  # at most one message per sequence
            if pending is not None and min(ask, pending) >= CONSUMER_FROM:
                got = self.consume({}, seq, consumed, limit=ask)
                if got is not None:
                    out.extend(got.items)
                    if got.messages < ask:
                        break
                    seq = got.last_seq + 1
                    pending -= got.messages
                    continue
            if pending is None:
                # A short read stays one Direct Get; a long one learns from a short first
                # batch how many remain (its end-of-batch frame), then goes on by consumer.
                ask = min(ask, CONSUMER_FROM if ask < CONSUMER_FROM else PROBE, CONSUMER_FROM)
            # No subject filter: with many aggregates, the server serves a wildcard filter at
            # half the rate of plain sequence order; the few other messages are skipped here.
            reply = self.request({"seq": seq, "batch": ask}, direct)
            if reply is None:
                return None
            out.extend(reply.items)
            if not _more(reply, ask):
                break
            seq = _sequence(reply) + 1
            pending = reply.num_pending if reply.num_pending is not None else 0
        if stop is not None and out and out[-1].id > stop:
            out = [n for n in out if n.id <= stop]
        return out[:limit]

    # -- transport ------------------------------------------------------------------------

    def request(
        self,
        request: dict[str, object],
        convert: Callable[[bytes, bytes], T | None],
        *,
        single: bool = False,
    ) -> Reply[T] | None:
        """A Direct Get over the wire reader; None if it cannot serve (then use nats-py)."""
        client = self.client
        if client is None or time.monotonic() < self._paused_until:
            return None
        try:
            return client.request(request, convert, wait=READ_WAIT, single=single)
        except WireUnsupported as exc:
            log.warning("event store reads go through nats-py from now on: %s", exc)
            self.client = None
        except (WireError, TimeoutError):
            # Unreachable, refused or silent (e.g. a cluster electing a leader after a node
            # restart): nats-py, which reconnects and retries by itself, serves for a while.
            self._paused_until = time.monotonic() + 1.0
        return None

    def consume(
        self, config: dict[str, Any], start_seq: int, convert: ConvertConsumed[T], *, limit: int
    ) -> Consumed[T] | None:
        """Messages from ``start_seq`` through an ephemeral consumer; None: use Direct Get."""
        client = self.client
        now = time.monotonic()
        if client is None or now < self._paused_until or now < self._consumers_paused_until:
            return None
        config = {
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": start_seq,
            "ack_policy": "none",
            "replay_policy": "instant",
            "inactive_threshold": _CONSUMER_IDLE_NS,
            "mem_storage": True,
            "num_replicas": 1,
            **config,
        }
        try:
            return client.consume(config, convert, limit=limit, wait=READ_WAIT)
        except (DirectGetFailed, WireUnsupported):
            # Refused (limits, permissions, no meta leader yet...): Direct Get for a minute.
            self._consumers_paused_until = time.monotonic() + _CONSUMERS_PAUSE
        except (WireError, TimeoutError):
            self._paused_until = time.monotonic() + 1.0
        return None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def required(header: bytes, name: bytes) -> bytes:
    value = header_value(header, name)
    if value is None:
        raise KeyError(name.decode())
    return value


def _need(value: bytes | None, name: bytes) -> bytes:
    if value is None:
        raise KeyError(name.decode())
    return value


def _sequence(reply: Reply[T]) -> int:
    return int(required(reply.last_header, NATS_SEQUENCE))


def _more(reply: Reply[T], asked: int) -> bool:
    """Whether messages matching the request remain after this reply."""
    if not reply.messages:
        return False
    if reply.num_pending is not None:
        return reply.num_pending > 0
    return reply.messages == asked  # a server without Nats-Num-Pending: ask again if full
