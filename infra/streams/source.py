"""A JetStream stream of the event store as the SSE hub's ``EventLog``.

Live: a nats-py ordered consumer (push, flow control, no acks, in memory) from a start
sequence; on a gap it recreates itself from the last sequence it delivered, so the hub sees
every message once and in order. History: Direct Get batches (``DirectReader``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from uuid import UUID

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from infra.eventstore.reader import DirectReader
from infra.eventstore.records import TOPIC, RawRecord
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.tracecontext import HEADERS as TRACE_HEADERS
from infra.eventstore.tracecontext import TRACEPARENT
from infra.streams.translate import Origins, Translator
from readmodels.live import LogUnavailable, StreamEvent

# What a NATS outage raises (a request timing out, the connection closed, reconnecting, gone).
_OUTAGES = (
    TimeoutError,
    OSError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
)
_WAIT_FOR_STREAM = 1.0
_BOUNDS_FOR = 0.5  # seconds a stream's first/last sequence is remembered
_LOOKUP_WAIT = 30.0  # a fixture's first event, asked once per fixture (patient under load)
_TRANSLATING = 1024  # events received and being translated, at most


def aggregate_of(subject: str) -> str:
    token = subject.rsplit(".", 1)[1]
    return str(UUID(hex=token[1:])) if token.startswith("u") else token


class JetStreamLog:
    def __init__(self, nc: NATS, stream: str, translate: Translator) -> None:
        self.nc = nc
        self.layout = SubjectLayout(stream)
        self.translate = translate
        self.reader = DirectReader(nc, stream)
        self._reader_started = False
        self._bounds = (0, 0)
        self._bounds_at = -_BOUNDS_FOR
        self._asking: asyncio.Future[tuple[int, int]] | None = None

    async def bounds(self) -> tuple[int, int]:
        # Asked on resumes that leave the replay buffer: remembered briefly, so a reconnect storm
        # costs the server one STREAM.INFO per period, not one per client.
        # Concurrent callers share one request in flight.
        if time.monotonic() - self._bounds_at < _BOUNDS_FOR:
            return self._bounds
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask_bounds())
        return await asyncio.shield(self._asking)

    async def _ask_bounds(self) -> tuple[int, int]:
        try:
            info = await self.nc.jetstream().stream_info(self.layout.stream)
        except NotFoundError:
            return 0, 0
        self._bounds = int(info.state.first_seq or 0), int(info.state.last_seq or 0)
        self._bounds_at = time.monotonic()
        return self._bounds

    async def _translate(
        self, seq: int, subject: str, topic: str, data: bytes
    ) -> StreamEvent | None:
        if not topic:
            return None
        return await self.translate(seq, aggregate_of(subject), topic, data)

    async def follow(self, after: int) -> AsyncIterator[tuple[int, StreamEvent | None]]:
        try:
            async for item in self._follow(after):
                yield item
        except _OUTAGES as exc:
            raise LogUnavailable(f"{self.layout.stream}: {type(exc).__name__}: {exc}") from exc

    async def _follow(self, after: int) -> AsyncIterator[tuple[int, StreamEvent | None]]:
        js = self.nc.jetstream()
        while True:
            try:
                await js.stream_info(self.layout.stream)
                break
            except NotFoundError:
                await asyncio.sleep(_WAIT_FOR_STREAM)  # the writer creates it on first use
        sub = await js.subscribe(
            self.layout.events,
            stream=self.layout.stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=after + 1),
            pending_msgs_limit=-1,
        )
        # Translations run concurrently, results are handed on in log order: an event whose
        # fixture or odds book this process has not met yet needs a lookup in the store, and
        # one at a time those held every later event back by a round trip each (at a gateway
        # start with 200 new aggregates on a loaded box: seconds; benchmarks/bench_sse.py).
        ordered: asyncio.Queue[tuple[int, asyncio.Future[StreamEvent | None]]] = asyncio.Queue(
            _TRANSLATING
        )

        async def translated(msg: Msg) -> StreamEvent | None:
            seq, headers = msg.metadata.sequence.stream, msg.headers or {}
            event = await self._translate(seq, msg.subject, headers.get(TOPIC, ""), msg.data)
            return None if event is None else live_event(event, headers, msg.metadata.timestamp)

        async def receive() -> None:
            async for msg in sub.messages:
                seq = msg.metadata.sequence.stream
                await ordered.put((seq, asyncio.ensure_future(translated(msg))))

        receiving = asyncio.ensure_future(receive())
        getting: asyncio.Future[tuple[int, asyncio.Future[StreamEvent | None]]] | None = None
        try:
            while True:
                if ordered.empty():
                    getting = asyncio.ensure_future(ordered.get())
                    await asyncio.wait({getting, receiving}, return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():  # the subscription ended or failed: say which
                        receiving.result()
                        return
                    seq, event = getting.result()
                    getting = None
                else:  # everything already received goes on without a turn of the loop each
                    seq, event = ordered.get_nowait()
                yield seq, await event
        finally:
            receiving.cancel()
            if getting is not None:
                getting.cancel()
            while not ordered.empty():
                ordered.get_nowait()[1].cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _started_reader(self) -> DirectReader:
        if not self._reader_started:
            await self.reader.start()
            self._reader_started = True
        return self.reader

    async def read(self, *, after: int, up_to: int, limit: int) -> tuple[list[StreamEvent], int]:
        reader = await self._started_reader()
        records = await reader.batch(
            subject=self.layout.events, start_seq=after + 1, limit=limit, up_to_seq=up_to
        )
        # Concurrently, as live (lookups of aggregates not met yet share one round trip).
        translated = await asyncio.gather(*(self._translate_record(r) for r in records))
        events = [event for event in translated if event is not None]
        examined = records[-1].seq if len(records) == limit else up_to
        return events, examined

    async def _translate_record(self, record: RawRecord) -> StreamEvent | None:
        return await self._translate(
            record.seq, record.subject, record.headers.get(TOPIC, ""), record.data
        )

    async def first_event(self, aggregate: str) -> tuple[str, bytes] | None:
        """The first event of an aggregate of this stream (a fixture or an odds book)."""
        try:
            subject = self.layout.aggregate(UUID(aggregate))
        except ValueError:
            return None
        reader = await self._started_reader()
        record = await reader.next_after(subject, 0, wait=_LOOKUP_WAIT)
        if record is None:
            return None
        return record.headers.get(TOPIC, ""), record.data


def live_event(
    event: StreamEvent, headers: dict[str, str], stored_at: datetime | None
) -> StreamEvent:
    """``event`` with its trace context and the time it was stored (what the hub's span and
    delivery latency need)."""
    trace = (
        {k: headers[k] for k in TRACE_HEADERS if k in headers} if TRACEPARENT in headers else None
    )
    stored_ns = int(stored_at.timestamp() * 1e9) if stored_at is not None else 0
    return replace(event, trace=trace, stored_ns=stored_ns)


def event_logs(
    nc: NATS, *, events_stream: str, forecasts_stream: str
) -> tuple[JetStreamLog, JetStreamLog]:
    """The two logs the hub follows, sharing one record of fixtures and odds books."""
    holder: list[JetStreamLog] = []

    async def first_event(aggregate: str) -> tuple[str, bytes] | None:
        return await holder[0].first_event(aggregate)

    translate = Translator(Origins(first_event))
    events = JetStreamLog(nc, events_stream, translate)
    holder.append(events)
    return events, JetStreamLog(nc, forecasts_stream, translate)
