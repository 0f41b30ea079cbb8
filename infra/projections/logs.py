"""EventLog adapters: an event-store stream through eventsourcing's application recorder, and
the quarantine stream's held payloads through Direct Get."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Mapping, Sequence

import nats.errors
from eventsourcing.persistence import Notification
from nats.aio.client import Client as NATS

from infra.eventstore.errors import EventStoreUnavailable
from infra.eventstore.factory import JetStreamFactory
from infra.eventstore.reader import DirectReader, ReadFailed
from infra.eventstore.recorders import JetStreamApplicationRecorder
from infra.feeds import quarantine as q
from projections.log import LogUnavailable, Page
from projections.quarantine import HELD

_UNAVAILABLE = (EventStoreUnavailable, TimeoutError, nats.errors.Error, ReadFailed, OSError)


class _Wake(threading.Event):
    """What the event stream sets on each stored event, passed on to an asyncio.Event."""

    def __init__(self, loop: asyncio.AbstractEventLoop, news: asyncio.Event) -> None:
        super().__init__()
        self._loop = loop
        self._news = news

    def set(self) -> None:
        self._loop.call_soon_threadsafe(self._news.set)


class StoreEventLog:
    """One event-store stream (``env`` selects it as for any eventsourcing application)."""

    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self._name = name
        self._factory = JetStreamFactory(dict(env))
        recorder = self._factory.application_recorder()
        assert isinstance(recorder, JetStreamApplicationRecorder)
        self._recorder = recorder
        self._news: asyncio.Event | None = None
        self._wake: _Wake | None = None

    @property
    def name(self) -> str:
        return self._name

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        try:
            return await asyncio.to_thread(self._read, after, limit, topics)
        except _UNAVAILABLE as exc:
            raise LogUnavailable(f"{self._name}: {type(exc).__name__} {exc}") from exc

    def _read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        head = self._recorder.max_notification_id() or 0
        if head <= after:
            return Page((), after, True)
        got = self._recorder.select_notifications(after + 1, limit, stop=head, topics=topics)
        if len(got) < limit:
            return Page(got, head, True)
        return Page(got, got[-1].id, got[-1].id >= head)

    async def head(self) -> int:
        try:
            return await asyncio.to_thread(lambda: self._recorder.max_notification_id() or 0)
        except _UNAVAILABLE as exc:
            raise LogUnavailable(f"{self._name}: {type(exc).__name__} {exc}") from exc

    async def wait_for_news(self, after: int, within: float) -> None:
        if self._news is None:
            self._news = asyncio.Event()
            self._wake = _Wake(asyncio.get_running_loop(), self._news)
            await asyncio.to_thread(self._recorder.stream.listen, self._wake)
        self._news.clear()
        if await self.head() > after:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._news.wait(), within)

    def close(self) -> None:
        if self._wake is not None:
            self._recorder.stream.unlisten(self._wake)
        self._factory.close()


class EmptyLog:
    """A stream not made yet, as a read-only reader sees it: no notifications, head 0."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        return Page((), after, True)

    async def head(self) -> int:
        return 0

    async def wait_for_news(self, after: int, within: float) -> None:
        await asyncio.sleep(within)


class QuarantineLog:
    """The quarantine's held payloads as notifications: id = stream sequence, state = JSON of
    source, kind, reason code and arrival time (the raw bytes stay in the quarantine)."""

    def __init__(self, nc: NATS, stream: str = q.STREAM, prefix: str = "quarantine") -> None:
        self._reader = DirectReader(nc, stream)
        self._held = f"{prefix}.held.>"
        self._all = f"{prefix}.>"
        self._started = False

    @property
    def name(self) -> str:
        return "quarantine"

    async def _start(self) -> None:
        if not self._started:
            await self._reader.start()
            self._started = True

    async def head(self) -> int:
        await self._start()
        try:
            last = await self._reader.last(self._all)
        except _UNAVAILABLE as exc:
            raise LogUnavailable(f"quarantine: {type(exc).__name__} {exc}") from exc
        return last.seq if last is not None else 0

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        head = await self.head()
        if head <= after:
            return Page((), after, True)
        try:
            records = await self._reader.batch(
                subject=self._held, start_seq=after + 1, limit=limit, up_to_seq=head
            )
        except _UNAVAILABLE as exc:
            raise LogUnavailable(f"quarantine: {type(exc).__name__} {exc}") from exc
        notifications = [
            Notification(
                id=r.seq,
                originator_id=r.subject,
                originator_version=1,
                topic=HELD,
                state=json.dumps(
                    {
                        "source": r.headers.get(q.H_SOURCE, ""),
                        "kind": r.headers.get(q.H_KIND, ""),
                        "reason_code": r.headers.get(q.H_REASON_CODE, ""),
                        "received_at": r.headers.get(q.H_RECEIVED_AT, ""),
                    }
                ).encode(),
            )
            for r in records
        ]
        if len(records) < limit:
            return Page(notifications, head, True)
        return Page(notifications, records[-1].seq, records[-1].seq >= head)

    async def wait_for_news(self, after: int, within: float) -> None:
        await asyncio.sleep(within)  # refusals are rare: a poll a second is enough
