"""`audit verify`'s chain check in worker processes (infra/audit/ranges.py) against a real
nats-server: a log the real planner wrote, stored as written (header blocks byte for byte), then
tampered with at or next to a range boundary; 2 and 3 workers, each reading its range over its
own wire client, give the report one process gives, and catch every tampering."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StreamConfig

from infra.audit.errors import StoreUnreachable
from infra.audit.log import extent, verify_log
from infra.audit.ranges import Ranges, verify_ranges
from infra.connections import connect_nats
from infra.eventstore.verify import StreamVerifier, VerificationReport
from infra.eventstore.wire_protocol import parse_headers
from tests.unit.test_chain_verifier_frames import LAYOUT, Stored, _forged, _log

pytestmark = pytest.mark.slow
STREAM = LAYOUT.stream
# 18 messages: 2 workers read 1-9 and 10-18, 3 workers 1-6, 7-12 and 13-18.


def _cases() -> dict[str, tuple[list[Stored], list[int]]]:
    """Each tampering: the messages to store and the sequences to delete after storing."""
    log = _log(b"")
    assert len(log) == 18
    flipped = bytearray(log[9].data)
    flipped[2] ^= 1
    altered = [*log[:9], Stored(log[9].subject, 10, log[9].header, bytes(flipped)), *log[10:]]
    forged = [*log[:6], _forged(log[6]), *log[7:]]
    reordered = [*log[:5], log[6], log[5], *log[7:]]  # across the 3-worker boundary (6 | 7)
    return {
        "untouched": (log, []),
        "altered byte at the start of a range": (altered, []),
        "forged with its hash recomputed, at a boundary": (forged, []),
        "removed at the end of a range": (log, [9]),
        "reordered across a boundary": (reordered, []),
        "newest events removed before the checkpoint": (log, [16, 17]),
    }


CASES = _cases()


async def _store(nc: NATS, messages: list[Stored], deleted: list[int]) -> None:
    js = nc.jetstream()
    # Direct Get allowed, as on the event store's streams: the reads' fallback.
    await js.add_stream(
        StreamConfig(name=STREAM, subjects=[LAYOUT.all_subjects], allow_direct=True)
    )
    for m in messages:
        headers = {k: v for k, v in parse_headers(m.header).items() if not k.startswith("Nats-")}
        await js.publish(m.subject.decode(), m.data, stream=STREAM, headers=headers)
    for seq in deleted:
        await js.delete_msg(STREAM, seq)


async def _verify(url: str, workers: int) -> tuple[VerificationReport, list[str], int]:
    nc = await connect_nats(url, reconnect=False)
    try:
        verifier = StreamVerifier(LAYOUT)
        size = await extent(nc, STREAM)
        read: list[int] = []
        if workers == 1:
            await verify_log(nc, STREAM, verifier, on_page=read.append)
        else:
            ranges = Ranges(workers, from_messages=0)
            assert len(ranges.bounds(size)) == workers
            await verify_ranges(nc, STREAM, verifier, size, ranges, on_page=read.append)
        digests = [verifier.digest_at(n) for n in range(size.last_seq + 1)]
        return verifier.report(), digests, sum(read)  # with what the progress bar was told
    finally:
        await nc.close()


@pytest.fixture
def stored(nats_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    messages, deleted = CASES[request.param]

    async def put() -> None:
        nc = await connect_nats(nats_url, reconnect=False)
        try:
            await _store(nc, messages, deleted)
        finally:
            await nc.close()

    async def drop() -> None:
        nc = await connect_nats(nats_url, reconnect=False)
        try:
            await nc.jetstream().delete_stream(STREAM)
        finally:
            await nc.close()

    asyncio.run(put())
    try:
        yield request.param
    finally:
        asyncio.run(drop())


@pytest.mark.parametrize("stored", sorted(CASES), indirect=True)
def test_worker_processes_give_the_one_process_report(nats_url: str, stored: str) -> None:
    one = asyncio.run(_verify(nats_url, 1))
    assert one[0].ok == (stored == "untouched"), one[0].problems
    assert one[2] == one[0].messages > 0
    for workers in (2, 3):
        many = asyncio.run(_verify(nats_url, workers))
        assert many[:2] == one[:2], (stored, workers)
        # The workers' pages reached the progress bar, each message once: a range whose read
        # passed its end (a removed message before it) counts only its own.
        assert many[2] == many[0].messages, (stored, workers)


def test_a_worker_that_cannot_reach_the_store_is_a_named_error(nats_url: str) -> None:
    """The auditor reaches the server through a forwarding port that stops listening once it
    is connected (its open connection goes on): its own range is read over that connection,
    a worker's connection to the same port is refused. The worker's StoreUnreachable comes
    back with its code, not a traceback."""
    host, port = nats_url.rsplit("/", 1)[-1].split(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def forward(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client, to_server), pipe(server, to_client))

    async def main() -> None:
        listener = await asyncio.start_server(forward, "127.0.0.1", 0)
        forwarded = listener.sockets[0].getsockname()[1]
        nc = await connect_nats(f"nats://127.0.0.1:{forwarded}", reconnect=False)
        listener.close()  # no new connection from here on; nc's goes on
        await listener.wait_closed()
        try:
            messages, deleted = CASES["untouched"]
            await _store(nc, messages, deleted)
            size = await extent(nc, STREAM)
            with pytest.raises(StoreUnreachable) as caught:
                await verify_ranges(nc, STREAM, StreamVerifier(LAYOUT), size, Ranges(2, 0))
            assert caught.value.code == "store-unreachable"
            assert f"127.0.0.1:{forwarded}" in str(caught.value)
            verifier = StreamVerifier(LAYOUT)  # the auditor itself still reads the log
            await verify_log(nc, STREAM, verifier)
            assert verifier.report().ok
            await nc.jetstream().delete_stream(STREAM)
        finally:
            await nc.close()

    asyncio.run(main())
