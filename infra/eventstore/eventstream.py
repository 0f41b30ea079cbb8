"""The synchronous face of one stream: what the recorders call, run on the NATS loop thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from functools import partial
from uuid import UUID

import nats.errors
from eventsourcing.persistence import Notification, StoredEvent, Tracking
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from infra.eventstore.append import Appender
from infra.eventstore.checkpoint import Checkpoint, write_checkpoint
from infra.eventstore.decode import stored_event_decoder
from infra.eventstore.errors import EventStoreUnavailable
from infra.eventstore.gcpause import gc_held
from infra.eventstore.heads import Head
from infra.eventstore.link import NatsLink
from infra.eventstore.publish import Channel
from infra.eventstore.reader import MAX_BATCH, DirectReader
from infra.eventstore.records import (
    HASH,
    TOPIC,
    VERSION,
    RawRecord,
    traced,
)
from infra.eventstore.settings import EventStoreSettings
from infra.eventstore.stream import ensure_stream
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.tracecontext import HEADERS as TRACE_HEADERS
from infra.eventstore.tracecontext import (
    TRACEPARENT,
    append_span,
    current_headers,
    tracing_on,
)
from infra.eventstore.wire import Frame, WireClient
from infra.eventstore.wire_reads import ES_HASH, ES_VERSION, NATS_SEQUENCE, WireReads, required


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
        # Bulk reads go over our own sockets straight from the calling thread (wire_reads.py);
        # the nats-py reader above serves whenever that path cannot.
        self._reads = WireReads(link.reads_client(settings.stream), self.layout)
        self.appender = Appender(
            Channel(link.nc, link.publisher()),
            self.reader,
            self.layout,
            chain_key=settings.chain_key,
            save_timeout=settings.save_timeout,
        )

    # -- writes ---------------------------------------------------------------------------

    def append(self, events: Sequence[StoredEvent], tracking: Tracking | None = None) -> list[int]:
        if not events and tracking is None:
            return []
        if tracing_on():
            with append_span(self.layout.stream, len(events)):
                seqs = self._append(events, tracking, current_headers())
        else:  # a context received from elsewhere (a provider's request) still travels on
            seqs = self._append(events, tracking, current_headers())
        self._notify_listeners()
        return seqs[: len(events)]

    def _append(
        self, events: Sequence[StoredEvent], tracking: Tracking | None, trace: dict[str, str]
    ) -> list[int]:
        try:
            return self.link.call(
                partial(self.appender.start, events, tracking, trace=trace),
                timeout=self._timeout,
            )
        except (EventStoreUnavailable, TimeoutError) as exc:
            denied = self.link.denials.under(f"{self.layout.prefix}.")
            if denied is not None:  # not unavailable: this user may not write here
                raise denied from exc
            raise

    # -- reads ----------------------------------------------------------------------------

    @gc_held()  # see gcpause.py: 1,000s of records built, none garbage
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
        decode = stored_event_decoder(originator_id, gt=gt, lte=lte)
        scanned: tuple[list[StoredEvent], int, bytes] | None
        if desc and limit == 1 and lte is None:
            last = self._last(subject)
            if last is None:
                scanned = [], 0, b""
            else:
                event = decode(b"", 0, *last)
                scanned = [] if event is None else [event], _seq_of(last), last[0]
        else:
            head = self.appender.known_head(subject)
            scanned = self._reads.scan(subject, decode, expected=head.version if head else 0)
        if scanned is None:
            return self._select_events_slow(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        events, last_seq, header = scanned
        if last_seq and lte is None:
            # Loading an aggregate tells the writer what its next event chains to.
            self.appender.remember(
                subject,
                Head(
                    int(required(header, ES_VERSION)),
                    last_seq,
                    required(header, ES_HASH).decode(),
                ),
            )
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

    @gc_held()  # see gcpause.py
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
        out = self._reads.notifications(seq, limit, stop, wanted)
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
                n = Notification(
                    id=r.seq,
                    originator_id=self.layout.originator_id(r.subject),
                    originator_version=int(h[VERSION]),
                    topic=topic,
                    state=r.data,
                )
                out.append(
                    traced(n, {k: h[k] for k in TRACE_HEADERS if k in h}) if TRACEPARENT in h else n
                )
                if len(out) == limit:
                    break
            if len(records) < ask:
                break
            seq = records[-1].seq + 1
        return out

    # -- the wire path --------------------------------------------------------------------

    @property
    def _wire(self) -> WireClient | None:
        """The raw-protocol reader (None: every read goes through nats-py)."""
        return self._reads.client

    @_wire.setter
    def _wire(self, client: WireClient | None) -> None:
        self._reads.client = client

    def _last(self, subject: str) -> Frame | None:
        last_frame = self._reads.last(subject)
        if last_frame is not False:
            return last_frame if isinstance(last_frame, tuple) else None
        last = self.link.run(self.reader.last(subject), timeout=self._timeout)
        if last is None:
            return None
        return _frame_of(last)

    def max_notification_id(self) -> int | None:
        last = self._last(self.layout.events)
        return None if last is None else _seq_of(last)

    def max_tracking_id(self, application_name: str) -> int | None:
        # Positions live on the tracking subject and on one-event process saves (ADR 0004).
        state = self.link.run(self.appender.read_tracking(application_name), timeout=self._timeout)
        return state.notification_id or None

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
        self._reads.close()
        with contextlib.suppress(Exception):  # the connection may already be closed
            self.link.run(self.reader.stop(), timeout=5)
        if self._wakeups is not None:
            with contextlib.suppress(Exception):  # the connection may already be closed
                self.link.run(self._wakeups.unsubscribe(), timeout=5)
            self._wakeups = None


def _seq_of(frame: Frame) -> int:
    return int(required(frame[0], NATS_SEQUENCE))


def _frame_of(record: RawRecord) -> Frame:
    """A record read through nats-py, as a wire frame (so both paths decode alike)."""
    lines = [f"{k}: {v}" for k, v in record.headers.items()]
    lines.append(f"Nats-Sequence: {record.seq}")
    lines.append(f"Nats-Subject: {record.subject}")
    return ("NATS/1.0\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode(), record.data
