"""The log as an auditor reads it: stored messages page by page, decoded without the live apps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from commands.transcodings import register_domain_transcodings
from domain.fixture import Fixture
from domain.fixture_id import canonical_name
from infra.audit.errors import StoreUnreachable
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import HASH, TOPIC, VERSION, RawRecord, make_stored_event
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import StreamVerifier
from infra.eventstore.wire import Consumed, ConvertConsumed, WireClient
from infra.eventstore.wire_protocol import parse_headers
from infra.eventstore.wire_reads import WireReads
from infra.nats_identity import process_nats_security

PAGE = 10_000
T = TypeVar("T")
Progress = Callable[[int], None]  # called with the number of messages just read


@dataclass(frozen=True)
class StreamExtent:
    stream: str
    first_seq: int
    last_seq: int
    messages: int


async def extent(nc: NATS, stream: str, *, missing_is_empty: bool = False) -> StreamExtent:
    """How much ``stream`` holds. A stream not made yet (no forecaster has run, say) is an
    empty log with ``missing_is_empty``, else StoreUnreachable. The audit only reads: it never
    makes a stream, so the least privileged ``reader`` NATS user can run it."""
    try:
        info = await nc.jetstream().stream_info(stream)
    except NotFoundError as error:
        if missing_is_empty:
            return StreamExtent(stream, 1, 0, 0)
        raise StoreUnreachable(f"the log has no stream {stream!r}") from error
    state = info.state
    return StreamExtent(stream, state.first_seq, state.last_seq, state.messages)


async def pages(
    nc: NATS,
    stream: str,
    *,
    subject: str | None = None,
    start_seq: int = 1,
    up_to_seq: int | None = None,
    on_page: Progress | None = None,
    server_headers: bool = False,
) -> AsyncIterator[list[RawRecord]]:
    """Every stored message of ``stream`` (matching ``subject``) from ``start_seq``, in order.

    ``server_headers``: with the headers Direct Get adds (Nats-Time-Stamp: when it was stored;
    Nats-Sequence, Nats-Subject), as an export wants; reads are then nats-py's only.

    Bulk reads go through the event store's own protocol client (an ephemeral consumer, several
    times faster than nats-py's message objects) where it can serve this connection; else, and
    for the rest of a read it gave up on, through nats-py Direct Get.
    """
    read = _read(
        nc,
        stream,
        _raw_record,
        _same,
        subject=subject,
        start_seq=start_seq,
        up_to_seq=up_to_seq,
        on_page=on_page,
        wire=not server_headers,
    )
    async for page in read:
        if page:
            yield page


async def verify_log(
    nc: NATS,
    stream: str,
    verifier: StreamVerifier,
    *,
    on_page: Progress | None = None,
    start_seq: int = 1,
    up_to_seq: int | None = None,
) -> None:
    """Every stored message of ``stream`` (from ``start_seq`` up to ``up_to_seq``) through
    ``verifier``: over the wire client each message's raw bytes go straight to
    :attr:`StreamVerifier.frame` as they are parsed (no record, no header dict); nats-py pages,
    where it must serve, through its :meth:`add`."""
    read: AsyncIterator[list[None]] = _read(
        nc,
        stream,
        verifier.frame,
        verifier.record,
        on_page=on_page,
        start_seq=start_seq,
        up_to_seq=up_to_seq,
    )
    async for _ in read:
        pass


async def _read(
    nc: NATS,
    stream: str,
    convert: ConvertConsumed[T],
    from_record: Callable[[RawRecord], T | None],
    *,
    subject: str | None = None,
    start_seq: int = 1,
    up_to_seq: int | None = None,
    on_page: Progress | None = None,
    wire: bool = True,
) -> AsyncIterator[list[T]]:
    """Pages of what ``convert`` makes of each stored message (wire client), or
    ``from_record`` of it (nats-py Direct Get); None results are left out."""
    if (await extent(nc, stream, missing_is_empty=True)).last_seq == 0:
        return  # empty, or not made yet: nothing to read
    wanted = subject or SubjectLayout(stream).all_subjects
    seq = start_seq
    url = plain_url(nc) if wire else None
    if url is not None:
        past = [0]  # messages of the current page after up_to_seq (read, not handed on)
        if up_to_seq is not None:  # a filtered page can pass it: messages after it are not read
            convert = _until(convert, up_to_seq, past)
        # Our client with this process's TLS and credentials, as nats-py was given them.
        client = WireClient(url, stream, security=process_nats_security())
        reads = WireReads(client, SubjectLayout(stream))
        try:
            while up_to_seq is None or seq <= up_to_seq:
                limit = PAGE if up_to_seq is None else min(PAGE, up_to_seq - seq + 1)
                got: Consumed[T] | None = await asyncio.to_thread(
                    partial(reads.consume, limit=limit), {"filter_subject": wanted}, seq, convert
                )
                if got is None:
                    break  # the wire path cannot serve: nats-py from here
                inside, past[0] = got.messages - past[0], 0
                if on_page is not None and inside:
                    on_page(inside)  # a gap before up_to_seq lets the page reach past it
                yield got.items
                if got.messages < limit:
                    return
                seq = got.last_seq + 1
            else:
                return
        finally:
            reads.close()
    async for records in _direct_pages(nc, stream, wanted, seq, up_to_seq, on_page):
        yield [item for r in records if (item := from_record(r)) is not None]


def _same(record: RawRecord) -> RawRecord:
    return record


def _until(convert: ConvertConsumed[T], last: int, past: list[int]) -> ConvertConsumed[T]:
    """``convert`` for the messages up to ``last``; those after it are counted in ``past``."""

    def until(subject: bytes, seq: int, header: bytes, data: bytes) -> T | None:
        if seq <= last:
            return convert(subject, seq, header, data)
        past[0] += 1
        return None

    return until


def _raw_record(subject: bytes, seq: int, header: bytes, data: bytes) -> RawRecord:
    return RawRecord(seq, subject.decode(), parse_headers(header), data)


def plain_url(nc: NATS) -> str | None:
    """The URL of the server ``nc`` talks to, if the wire client can use it the same way."""
    connected = nc.connected_url
    if connected is None or connected.username or connected.password:
        return None
    if connected.scheme not in ("nats", "tls", ""):
        return None
    return f"{connected.scheme or 'nats'}://{connected.hostname}:{connected.port or 4222}"


async def _direct_pages(
    nc: NATS,
    stream: str,
    wanted: str,
    start_seq: int,
    up_to_seq: int | None,
    on_page: Progress | None,
) -> AsyncIterator[list[RawRecord]]:
    reader = DirectReader(nc, stream)
    await reader.start()
    seq = start_seq
    while True:
        page = await reader.batch(subject=wanted, start_seq=seq, limit=PAGE, up_to_seq=up_to_seq)
        if not page:
            return
        if on_page is not None:
            on_page(len(page))
        yield page
        if len(page) < PAGE:
            return
        seq = page[-1].seq + 1


def is_event(record: RawRecord) -> bool:
    return HASH in record.headers and TOPIC in record.headers


def domain_mapper() -> Mapper[Any]:
    """Decodes stored events as the applications do (the same transcodings, no recorder)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_domain_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def decode(mapper: Mapper[Any], layout: SubjectLayout, record: RawRecord) -> Any:
    """The domain event a stored event message holds."""
    h = record.headers
    stored = make_stored_event(
        layout.originator_id(record.subject), int(h[VERSION]), h[TOPIC], record.data
    )
    return mapper.to_domain_event(stored)


def originator(layout: SubjectLayout, record: RawRecord) -> UUID | str:
    return layout.originator_id(record.subject)


async def fixtures_in(
    nc: NATS, stream: str, competitions: set[str], *, on_page: Progress | None = None
) -> set[UUID]:
    """The ids of the fixtures scheduled in any of ``competitions`` (case-insensitive)."""
    wanted = {canonical_name(c) for c in competitions}
    mapper = domain_mapper()
    layout = SubjectLayout(stream)
    found: set[UUID] = set()
    async for page in pages(nc, stream, subject=layout.events, on_page=on_page):
        for record in page:
            if not is_event(record) or not record.headers[TOPIC].endswith("Fixture.Scheduled"):
                continue
            event = decode(mapper, layout, record)
            if isinstance(event, Fixture.Scheduled) and canonical_name(event.competition) in wanted:
                found.add(event.originator_id)
    return found
