"""`audit verify` from a store directory's message blocks (infra/audit/blocks.py,
infra/audit/from_blocks.py), on files a real nats-server wrote and was stopped over:

- every message (subject, sequence, header block, payload) is what the server serves from those
  files, with removed, erased and tombstoned sequences left out as it leaves them out;
- the log the real planner wrote, spread over three blocks, untouched and tampered with (a
  changed byte, a forge with its hash recomputed, a removed message, a reorder, the newest
  events removed under the checkpoint) gives in 1, 2 and 3 processes the report and digests the
  server path gives (verify_log over the wire);
- a block or store the reader does not know is a named error, and a record cut in the store's
  files a finding."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from infra.audit.blocks import COMPRESSED, read_blocks, stored_stream
from infra.audit.errors import UnknownStoreFormat
from infra.audit.from_blocks import runs, verify_stored
from infra.audit.log import extent, verify_log
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.eventstore import chain
from infra.eventstore.checkpoint import Checkpoint
from infra.eventstore.verify import StreamVerifier, VerificationReport
from infra.eventstore.wire_protocol import parse_headers
from tests.unit.test_chain_verifier_frames import LAYOUT, Stored, _forged, _log

pytestmark = pytest.mark.slow
STREAM = LAYOUT.stream
PAD = 1_000_000  # bytes of payload of one padding message (under the server's max_payload)
# The served headers Direct Get adds to each message; not part of what was stored.
_DIRECT_GET = {"Nats-Stream", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Subject"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    nats = EmbeddedNats(
        NatsConfig(
            store_dir=tmp_path_factory.mktemp("blocks"),
            port=free_port(),
            monitor_port=free_port(),
            sync_always=False,
        )
    )
    nats.start()
    yield nats
    nats.stop()


def _run(server: EmbeddedNats, work: object) -> object:
    async def main() -> object:
        nc = await connect_nats(server.url, reconnect=False)
        try:
            return await work(nc)  # type: ignore[operator]
        finally:
            await nc.close()

    return asyncio.run(main())


@dataclass(frozen=True)
class Layout:
    """Where each of the planner's 18 messages landed (stream sequences), and the padding
    that puts 6 of them in each of three 8 MB blocks."""

    seqs: list[int]


async def _store(nc: NATS, messages: list[Stored], deleted: list[int]) -> Layout:
    """Eight padding messages of ~1 MB (not events: the verifier passes them over) before each
    run of six of the log's messages: each run then ends a block (8 MB) and the next padding
    starts one. ``deleted``: indexes in ``messages`` removed after storing."""
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[LAYOUT.all_subjects]))
    seqs = []
    for i, m in enumerate(messages):
        if i % 6 == 0:
            for _ in range(8):
                await js.publish(f"{LAYOUT.prefix}.pad", b"p" * PAD, stream=STREAM)
        headers = {k: v for k, v in parse_headers(m.header).items() if not k.startswith("Nats-")}
        ack = await js.publish(m.subject.decode(), m.data, stream=STREAM, headers=headers)
        assert ack.seq == _padded_seq(i)
        seqs.append(ack.seq)
    for n, i in enumerate(deleted):
        await _remove(nc, seqs[i], erase=n % 2 == 1)
    return Layout(seqs)


def _padded_seq(i: int) -> int:
    """The stream sequence of the log's message ``i`` once stored with its padding."""
    return i + 1 + 8 * (i // 6 + 1)


def _padded_log() -> list[Stored]:
    """The planner's log (18 messages), its checkpoint made over the sequences its events get
    once stored between the padding."""
    log = _log(b"")
    assert len(log) == 18
    digest, count, upto = chain.GENESIS, 0, 0
    for i, s in enumerate(log[:-1]):
        if s.subject.startswith(LAYOUT.events[:-1].encode()):
            upto = _padded_seq(i)
            hash_ = parse_headers(s.header)["Es-Hash"]
            digest = chain.checkpoint_digest(key=b"", prev_digest=digest, seq=upto, hash_=hash_)
            count += 1
    checkpoint = Checkpoint(upto, count, digest, chain.GENESIS)
    last = log[-1]
    return [*log[:-1], Stored(last.subject, last.seq, last.header, checkpoint.encode())]


async def _remove(nc: NATS, seq: int, *, erase: bool = False) -> None:
    """Remove the message at ``seq``: its record stays in its block and a tombstone names it
    (or, ``erase``, its record is overwritten in place and marked erased)."""
    request = json.dumps({"seq": seq, "no_erase": not erase}).encode()
    reply = await nc.request(f"$JS.API.STREAM.MSG.DELETE.{STREAM}", request, timeout=5)
    assert json.loads(reply.data).get("success"), reply.data


def _cases() -> dict[str, tuple[list[Stored], list[int]]]:
    """Each tampering: the messages to store and which of them to remove after storing."""
    log = _padded_log()
    flipped = bytearray(log[6].data)
    flipped[2] ^= 1
    altered = [*log[:6], Stored(log[6].subject, 7, log[6].header, bytes(flipped)), *log[7:]]
    forged = [*log[:6], _forged(log[6]), *log[7:]]
    reordered = [*log[:5], log[6], log[5], *log[7:]]  # across the first block boundary
    return {
        "untouched": (log, []),
        "altered byte at the start of a block": (altered, []),
        "forged with its hash recomputed, at a block boundary": (forged, []),
        "removed at the end of a block": (log, [5]),
        "removed inside a block, one of them erased": (log, [2, 8]),
        "reordered across a block boundary": (reordered, []),
        "newest events removed before the checkpoint": (log, [15, 16]),
    }


CASES = _cases()


def _stopped_copy(server: EmbeddedNats, dest: Path) -> Path:
    """The store's files as the stopped server left them."""
    server.stop()
    try:
        shutil.copytree(server.config.store_dir / "jetstream", dest / "jetstream")
    finally:
        server.start()
    return dest


def _over_the_wire(server: EmbeddedNats) -> tuple[VerificationReport, list[str]]:
    async def work(nc: NATS) -> tuple[VerificationReport, list[str]]:
        verifier = StreamVerifier(LAYOUT)
        await verify_log(nc, STREAM, verifier)
        size = await extent(nc, STREAM)
        return verifier.report(), [verifier.digest_at(n) for n in range(size.last_seq + 1)]

    got = _run(server, work)
    assert isinstance(got, tuple)
    return got


def _drop(server: EmbeddedNats) -> None:
    async def work(nc: NATS) -> None:
        await nc.jetstream().delete_stream(STREAM)

    _run(server, work)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_blocks_give_the_servers_report_in_one_and_several_processes(
    server: EmbeddedNats, tmp_path: Path, case: str
) -> None:
    messages, deleted = CASES[case]
    layout = _run(server, lambda nc: _store(nc, messages, deleted))
    assert isinstance(layout, Layout)
    try:
        copy = _stopped_copy(server, tmp_path)
        served, digests = _over_the_wire(server)
    finally:
        _drop(server)
    assert served.ok == (case == "untouched"), served.problems
    stored = stored_stream(copy, STREAM)
    assert stored is not None
    assert len(stored.blocks) == 3
    first = {b: read_blocks([b], lambda *f: None).last_seq for b in stored.blocks}
    # Each block ends with a run of the log (the boundaries the tamperings sit at).
    assert [first[b] for b in stored.blocks] == [layout.seqs[5], layout.seqs[11], layout.seqs[17]]
    for processes in (1, 2, 3):
        assert len(runs(stored.blocks, processes)) == processes
        progress: list[int] = []

        def make(range_part: bool) -> StreamVerifier:
            return StreamVerifier(LAYOUT, range_part=range_part)

        verdict = verify_stored(stored, make, processes=processes, on_page=progress.append)
        report = verdict.verifier.report()
        assert report == served, (case, processes)
        assert [verdict.verifier.digest_at(n) for n in range(len(digests))] == digests
        assert verdict.last_seq == len(digests) - 1
        assert sum(progress) == report.messages  # what the progress bar was told


def test_every_message_is_what_the_server_serves_from_the_same_files(
    server: EmbeddedNats, tmp_path: Path
) -> None:
    """Messages with and without headers over three blocks; removed: one inside a block, the
    first of a block, the stream's last; one erased (its bytes overwritten in place)."""

    async def put(nc: NATS) -> list[int]:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=[LAYOUT.all_subjects]))
        seqs = []
        for i in range(30):
            headers = {"Es-Thing": f"value {i}", "Other": "x"} if i % 3 else None
            payload = b"%d-" % i + (b"p" * 900_000 if i % 4 < 2 else b"")
            ack = await js.publish(f"{LAYOUT.prefix}.evt.m{i % 5}", payload, headers=headers)
            seqs.append(ack.seq)
        return seqs

    seqs = _run(server, put)
    assert isinstance(seqs, list)
    blocks_before = stored_stream(_stopped_copy(server, tmp_path / "before"), STREAM)
    assert blocks_before is not None
    assert len(blocks_before.blocks) >= 2
    starts = [read_blocks([b], lambda *f: None) for b in blocks_before.blocks]
    first_of_second = min(
        seq for seq in seqs if seq > starts[0].last_seq
    )  # the first message of the second block

    async def remove(nc: NATS) -> None:
        for seq in (4, first_of_second, seqs[-1]):
            await _remove(nc, seq)
        await _remove(nc, 9, erase=True)

    _run(server, remove)
    copy = _stopped_copy(server, tmp_path / "after")

    async def served(nc: NATS) -> dict[int, tuple[str, dict[str, str], bytes]]:
        js = nc.jetstream()
        got = {}
        for seq in range(1, seqs[-1] + 1):
            try:
                m = await js.get_msg(STREAM, seq)
            except NotFoundError:
                continue
            headers = {k: v for k, v in (m.headers or {}).items() if k not in _DIRECT_GET}
            got[seq] = (m.subject or "", headers, m.data or b"")
        return got

    try:
        from_server = _run(server, served)
    finally:
        _drop(server)
    assert isinstance(from_server, dict)
    assert set(from_server) == set(range(1, 31)) - {4, 9, first_of_second, seqs[-1]}
    stored = stored_stream(copy, STREAM)
    assert stored is not None
    frames: list[tuple[bytes, int, bytes, bytes]] = []
    read_first: list[int] = []
    found = read_blocks(stored.blocks, lambda _s, seq, _h, _d: read_first.append(seq))
    assert 4 in read_first  # still in its block: only the tombstone read later says it is gone
    assert found.tombstones == {4, 9, first_of_second, seqs[-1]}  # an erase leaves one too
    read_blocks(stored.blocks, lambda *f: frames.append(f), removed=frozenset(found.tombstones))
    from_files = {
        seq: (subject.decode(), parse_headers(header) if header else {}, data)
        for subject, seq, header, data in frames
    }
    assert [f[1] for f in frames] == sorted(from_files)  # in order
    assert from_files == from_server
    assert found.last_seq == seqs[-1]


def test_blocks_the_reader_does_not_know_are_named_errors(
    server: EmbeddedNats, tmp_path: Path
) -> None:
    async def put(nc: NATS) -> None:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=[LAYOUT.all_subjects]))
        await js.publish(f"{LAYOUT.prefix}.evt.a", b"x")

    _run(server, put)
    try:
        copy = _stopped_copy(server, tmp_path)
    finally:
        _drop(server)
    stored = stored_stream(copy, STREAM)
    assert stored is not None
    make = lambda part: StreamVerifier(LAYOUT, range_part=part)  # noqa: E731
    assert verify_stored(stored, make).verifier.report().ok

    block = stored.blocks[0]
    original = block.read_bytes()
    block.write_bytes(COMPRESSED + b"\x01\x10" + original)  # as an S2-compressed block starts
    with pytest.raises(UnknownStoreFormat, match="compressed"):
        verify_stored(stored, make)
    block.write_bytes(original)

    key = block.with_suffix(".key")
    key.write_bytes(b"k" * 64)
    with pytest.raises(UnknownStoreFormat, match="encrypted"):
        stored_stream(copy, STREAM)
    key.unlink()

    other = stored.directory.parent.parent.parent / "ACCOUNT2" / "streams" / STREAM
    shutil.copytree(stored.directory, other)
    with pytest.raises(UnknownStoreFormat, match="several accounts"):
        stored_stream(copy, STREAM)
    shutil.rmtree(other.parent.parent)

    meta = stored.directory / "meta.inf"
    config = json.loads(meta.read_bytes())
    meta.write_text(json.dumps({**config, "max_msgs": 1000}))
    with pytest.raises(UnknownStoreFormat, match="max_msgs"):
        stored_stream(copy, STREAM)
    assert UnknownStoreFormat.code == "unknown-store-format"
