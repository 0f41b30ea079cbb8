"""The synchronous face of one stream: what the recorders call, run on the NATS loop thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from uuid import UUID

import nats.errors
from eventsourcing.persistence import Notification, StoredEvent, Tracking
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from infra.eventstore.append import Appender
from infra.eventstore.checkpoint import Checkpoint, write_checkpoint
from infra.eventstore.errors import EventStoreUnavailable
from infra.eventstore.heads import Head
from infra.eventstore.link import NatsLink
from infra.eventstore.reader import MAX_BATCH, DirectReader
from infra.eventstore.records import (
    HASH,
    TOPIC,
    TRACKING,
    VERSION,
    RawRecord,
    make_notification,
    make_stored_event,
)
from infra.eventstore.settings import EventStoreSettings
from infra.eventstore.stream import ensure_stream
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.wire import (
    Frame,
    Reply,
    WireClient,
    WireError,
    WireUnsupported,
    as_frame,
    header_value,
)

T = TypeVar("T")

# Messages asked for per Direct Get batch on the wire path; the end-of-batch frame says how
# many more match, so a read needs one more request only if there are more.
WIRE_BATCH = 10_000
_READ_WAIT = 10.0
_NATS_SEQUENCE = b"Nats-Sequence"
_NATS_SUBJECT = b"Nats-Subject"
_ES_VERSION = VERSION.encode()
_ES_TOPIC = TOPIC.encode()
_ES_HASH = HASH.encode()


class EventStream:
    def __init__(self, link: NatsLink, settings: EventStoreSettings, *, kind: str = "evt") -> None:
        self.link = link
        self.settings = settings
        self.layout = SubjectLayout(settings.stream, kind)
        self._timeout = settings.save_timeout + 5
        self._listeners: set[threading.Event] = set()
        self._listen_lock = threading.Lock()
        self._wakeups: Subscription | None = None
        try:
            link.run(
                ensure_stream(
                    link.nc,
                    self.layout,
                    replicas=settings.replicas,
                    duplicate_window=settings.duplicate_window,
                    create=settings.create_stream,
                ),
                timeout=30,
            )
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventStoreUnavailable(
                f"cannot create or check stream {settings.stream}: {type(exc).__name__} {exc}"
            ) from exc
        self.reader = DirectReader(link.nc, settings.stream)
        link.run(self.reader.start(), timeout=10)
        # Bulk reads go over plain sockets straight from the calling thread (wire.py); the
        # nats-py path above serves the write path and whenever the wire path cannot.
        self._wire: WireClient | None = None
        self._wire_paused_until = 0.0
        with contextlib.suppress(WireUnsupported):
            self._wire = WireClient(settings.url, settings.stream)
        self.appender = Appender(
            link.nc,
            self.reader,
            self.layout,
            chain_key=settings.chain_key,
            save_timeout=settings.save_timeout,
        )

    # -- writes ---------------------------------------------------------------------------

    def append(self, events: Sequence[StoredEvent], tracking: Tracking | None = None) -> list[int]:
        if not events and tracking is None:
            return []
        seqs = self.link.run(self.appender.append(events, tracking), timeout=self._timeout)
        self._notify_listeners()
        return seqs[: len(events)]

    # -- reads ----------------------------------------------------------------------------

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        subject = self.layout.aggregate(originator_id)
        if desc and limit == 1 and lte is None:
            last = self._last(subject)
            frames: list[Frame] | None = [] if last is None else [last]
        else:
            frames = self._wire_scan(subject)
        if frames is None:
            return self._select_events_slow(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        if frames and lte is None:
            # Loading an aggregate tells the writer what its next event chains to.
            header = frames[-1][0]
            self.appender.remember(
                subject,
                Head(
                    int(_required(header, _ES_VERSION)),
                    int(_required(header, _NATS_SEQUENCE)),
                    _required(header, _ES_HASH).decode(),
                ),
            )
        events: list[StoredEvent] = []
        topics: dict[bytes, str] = {}
        for header, data in frames:
            version = int(_required(header, _ES_VERSION))
            if (gt is not None and version <= gt) or (lte is not None and version > lte):
                continue
            raw_topic = _required(header, _ES_TOPIC)
            topic = topics.get(raw_topic)
            if topic is None:
                topic = topics[raw_topic] = raw_topic.decode()
            events.append(make_stored_event(originator_id, version, topic, data))
        if desc:
            events.reverse()
        return events if limit is None else events[:limit]

    def _select_events_slow(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        """select_events through nats-py (when the wire path cannot serve)."""
        subject = self.layout.aggregate(originator_id)
        if desc and limit == 1 and lte is None:
            last = self.link.run(self.reader.last(subject), timeout=self._timeout)
            records = [] if last is None else [last]
        else:
            records = self.link.run(
                self.reader.batch(subject=subject, start_seq=1, limit=1 << 62),
                timeout=self._timeout,
            )
        if records and lte is None:
            head = records[-1]
            self.appender.remember(
                subject, Head(int(head.headers[VERSION]), head.seq, head.headers[HASH])
            )
        events = [
            StoredEvent(originator_id, int(r.headers[VERSION]), r.headers[TOPIC], r.data)
            for r in records
        ]
        if gt is not None:
            events = [e for e in events if e.originator_version > gt]
        if lte is not None:
            events = [e for e in events if e.originator_version <= lte]
        if desc:
            events.reverse()
        return events if limit is None else events[:limit]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        seq = 1 if start is None else (start if inclusive_of_start else start + 1)
        wanted = set(topics)
        out = self._wire_notifications(seq, limit, stop, wanted)
        if out is not None:
            return out
        out = []
        while len(out) < limit:
            ask = min(limit - len(out), MAX_BATCH) if not wanted else MAX_BATCH
            records = self.link.run(
                self.reader.batch(
                    subject=self.layout.events, start_seq=seq, limit=ask, up_to_seq=stop
                ),
                timeout=self._timeout,
            )
            for r in records:
                h = r.headers
                topic = h[TOPIC]
                if wanted and topic not in wanted:
                    continue
                out.append(
                    Notification(
                        id=r.seq,
                        originator_id=self.layout.originator_id(r.subject),
                        originator_version=int(h[VERSION]),
                        topic=topic,
                        state=r.data,
                    )
                )
                if len(out) == limit:
                    break
            if len(records) < ask:
                break
            seq = records[-1].seq + 1
        return out

    def _wire_notifications(
        self, seq: int, limit: int, stop: int | None, wanted: set[str]
    ) -> list[Notification] | None:
        out: list[Notification] = []
        topics: dict[bytes, str] = {}
        originators: dict[bytes, UUID | str] = {}
        originator_id = self.layout.originator_id
        events_prefix = self.layout.events[:-1].encode()  # b"es.<stream>.evt."
        value = header_value

        def convert(header: bytes, data: bytes) -> Notification | None:
            raw_subject = _need(value(header, _NATS_SUBJECT), _NATS_SUBJECT)
            oid = originators.get(raw_subject)
            if oid is None:
                if not raw_subject.startswith(events_prefix):
                    return None  # a tracking position or checkpoint
                oid = originators[raw_subject] = originator_id(raw_subject.decode())
            raw_topic = _need(value(header, _ES_TOPIC), _ES_TOPIC)
            topic = topics.get(raw_topic)
            if topic is None:
                topic = topics[raw_topic] = raw_topic.decode()
            if wanted and topic not in wanted:
                return None
            seq = int(_need(value(header, _NATS_SEQUENCE), _NATS_SEQUENCE))
            version = int(_need(value(header, _ES_VERSION), _ES_VERSION))
            return make_notification(seq, oid, version, topic, data)

        while len(out) < limit and (stop is None or seq <= stop):
            ask = min(limit - len(out), WIRE_BATCH) if not wanted else WIRE_BATCH
            if stop is not None:
                ask = min(ask, stop - seq + 1)  # at most one message per sequence
            # No subject filter: with many aggregates, the server serves a wildcard filter at
            # half the rate of plain sequence order; the few other messages are skipped here.
            reply = self._wire_request({"seq": seq, "batch": ask}, convert)
            if reply is None:
                return None
            out.extend(reply.items)
            if not _more(reply, ask):
                break
            seq = int(_required(reply.last_header, _NATS_SEQUENCE)) + 1
        if stop is not None and out and out[-1].id > stop:
            out = [n for n in out if n.id <= stop]
        return out[:limit]

    # -- the wire path --------------------------------------------------------------------

    def _wire_request(
        self,
        request: dict[str, object],
        convert: Callable[[bytes, bytes], T | None],
        *,
        single: bool = False,
    ) -> Reply[T] | None:
        """A Direct Get over the wire reader; None if it cannot serve (then use nats-py)."""
        wire = self._wire
        if wire is None or time.monotonic() < self._wire_paused_until:
            return None
        try:
            return wire.request(request, convert, wait=_READ_WAIT, single=single)
        except WireUnsupported:
            self._wire = None
        except WireError:
            # Unreachable or refused: nats-py (which reconnects by itself) serves for a while.
            self._wire_paused_until = time.monotonic() + 1.0
        return None

    def _wire_scan(self, subject: str) -> list[Frame] | None:
        """Every stored message on ``subject``, in stream order (None: use nats-py)."""
        frames: list[Frame] = []
        seq = 1
        while True:
            request = {"seq": seq, "next_by_subj": subject, "batch": WIRE_BATCH}
            reply = self._wire_request(request, as_frame)
            if reply is None:
                return None
            frames.extend(reply.items)
            if not _more(reply, WIRE_BATCH):
                return frames
            seq = int(_required(reply.last_header, _NATS_SEQUENCE)) + 1

    def _last(self, subject: str) -> Frame | None:
        reply = self._wire_request({"last_by_subj": subject}, as_frame, single=True)
        if reply is not None:
            return reply.items[0] if reply.items else None
        last = self.link.run(self.reader.last(subject), timeout=self._timeout)
        if last is None:
            return None
        return _frame_of(last)

    def max_notification_id(self) -> int | None:
        last = self._last(self.layout.events)
        return None if last is None else int(_required(last[0], _NATS_SEQUENCE))

    def max_tracking_id(self, application_name: str) -> int | None:
        last = self._last(self.layout.tracking(application_name))
        return None if last is None else int(_required(last[0], TRACKING.encode()))

    def write_checkpoint(self) -> Checkpoint | None:
        """Commit to every event stored so far (run periodically by the composition root)."""
        return self.link.run(
            write_checkpoint(self.reader, self.layout, key=self.settings.chain_key),
            timeout=self._timeout + 60,
        )

    # -- wake-ups for subscriptions -------------------------------------------------------

    def listen(self, event: threading.Event) -> None:
        with self._listen_lock:
            self._listeners.add(event)
            if self._wakeups is None:
                self._wakeups = self.link.run(
                    self.link.nc.subscribe(self.layout.notify, cb=self._on_stored), timeout=10
                )

    def unlisten(self, event: threading.Event) -> None:
        with self._listen_lock:
            self._listeners.discard(event)

    async def _on_stored(self, _msg: Msg) -> None:
        self._notify_listeners()

    def _notify_listeners(self) -> None:
        for listener in list(self._listeners):
            listener.set()

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
        if self._wakeups is not None:
            with contextlib.suppress(Exception):  # the connection may already be closed
                self.link.run(self._wakeups.unsubscribe(), timeout=5)
            self._wakeups = None


def _required(header: bytes, name: bytes) -> bytes:
    value = header_value(header, name)
    if value is None:
        raise KeyError(name.decode())
    return value


def _need(value: bytes | None, name: bytes) -> bytes:
    if value is None:
        raise KeyError(name.decode())
    return value


def _more(reply: Reply[T], asked: int) -> bool:
    """Whether messages matching the request remain after this reply."""
    if not reply.messages:
        return False
    if reply.num_pending is not None:
        return reply.num_pending > 0
    return reply.messages == asked  # a server without Nats-Num-Pending: ask again if full


def _frame_of(record: RawRecord) -> Frame:
    """A record read through nats-py, as a wire frame (so both paths decode alike)."""
    lines = [f"{k}: {v}" for k, v in record.headers.items()]
    lines.append(f"Nats-Sequence: {record.seq}")
    lines.append(f"Nats-Subject: {record.subject}")
    return ("NATS/1.0\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode(), record.data
