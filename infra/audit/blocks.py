"""A stream's stored messages read straight from a JetStream store directory's message blocks,
without a nats-server (ADR 0034).

nats-server's file store (server/filestore.go) keeps a stream in ``<account>/streams/<name>/``:
``meta.inf`` (its configuration, JSON) and ``msgs/<index>.blk`` blocks, appended to in order.
A block is a run of records, all integers little-endian::

    length(4) sequence(8) timestamp(8) subject_length(2) subject
        [header_length(4) header]  payload  checksum(8)

- ``length`` covers the whole record; its high bit says the record has a header block;
- the sequence's top bit marks an erased record (its bytes overwritten, or a skipped
  sequence's placeholder), the next one a tombstone: the sequence of a message removed later
  (a record of 30 bytes, no subject);
- the checksum is a HighwayHash keyed by the stream's name: anybody can recompute it, so it is
  not read here (the hash chain is what protects the events).

What the server serves is every record that is neither erased nor a tombstone, less the
sequences a tombstone names (a removal writes one into the newest block; a block emptied by
removals is deleted, and compaction drops removed records). That holds for streams whose
limits never remove a message without a tombstone, so only such streams are read:
retention ``limits`` with no age, count, size or per-subject limit (what infra/eventstore/
stream.py requires of the event store's streams). A compressed block (``cmp`` header), an
encrypted store (``*.key`` files) or a configuration otherwise is :class:`UnknownStoreFormat`
(code ``unknown-store-format``), never a guess.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infra.audit.errors import StoreUnreachable, UnknownStoreFormat

RECORD = struct.Struct("<IQQH")  # length, sequence, timestamp, subject length
HEADER_LENGTH = struct.Struct("<I")
RECORD_HEAD = RECORD.size  # 22
CHECKSUM = 8
EMPTY_RECORD = RECORD_HEAD + CHECKSUM  # a tombstone or an erased placeholder
HAS_HEADERS = 1 << 31
ERASED = 1 << 63
TOMBSTONE = 1 << 62
MARKS = ERASED | TOMBSTONE
TOO_LONG = 32 * 1024 * 1024  # the server's own bound on a record's length
COMPRESSED = b"cmp"

# The configuration under which the blocks alone say what the stream holds (see above).
_NO_SILENT_REMOVALS = {
    "retention": "limits",
    "max_age": 0,
    "max_msgs": -1,
    "max_bytes": -1,
    "max_msgs_per_subject": -1,
    "compression": "none",
}

Frame = Callable[[bytes, int, bytes, bytes], None]
"""subject, stream sequence, header block (b"" if none), payload: as the wire client hands
a message to ``StreamVerifier.frame``."""


@dataclass(frozen=True)
class StoredStream:
    name: str
    directory: Path
    blocks: list[Path]  # in the order the server wrote them (by index)


@dataclass
class BlocksRead:
    """What reading some blocks found besides the messages handed on."""

    messages: int = 0  # handed on
    last_seq: int = 0  # the highest sequence any record names (removed ones included)
    tombstones: set[int] = field(default_factory=set)
    unreadable: list[tuple[Path, int, str]] = field(default_factory=list)
    """(block, byte offset, why): a record whose length fields do not fit its block; the rest
    of that block is not read (the server, too, drops a block's records from a bad one on)."""


def stored_stream(store_dir: Path, stream: str) -> StoredStream | None:
    """``stream``'s files in the JetStream store at ``store_dir`` (the stack's data dir, its
    nats/ dir or the jetstream/ dir); None if the store holds no such stream."""
    root = jetstream_root(store_dir)
    found = sorted(root.glob(f"*/streams/{stream}"))
    if not found:
        return None
    if len(found) > 1:
        accounts = [path.parent.parent.name for path in found]
        raise UnknownStoreFormat(f"stream {stream} is in several accounts {accounts}: which one?")
    directory = found[0]
    if (directory / "meta.key").exists() or any((directory / "msgs").glob("*.key")):
        raise UnknownStoreFormat(f"stream {stream} is encrypted in {directory}: not readable")
    try:
        config = json.loads((directory / "meta.inf").read_bytes())
    except (OSError, ValueError) as error:
        raise UnknownStoreFormat(f"{directory / 'meta.inf'} is not readable: {error}") from None
    unknown = {k: config.get(k) for k, v in _NO_SILENT_REMOVALS.items() if config.get(k) != v}
    if unknown:
        raise UnknownStoreFormat(
            f"stream {stream}'s configuration {unknown} can remove messages without a trace in "
            "its blocks: audit it through a server (--nats-url)"
        )
    blocks = []
    for path in (directory / "msgs").glob("*.blk"):
        if not path.stem.isdigit():
            raise UnknownStoreFormat(f"{path}: not a message block name")
        blocks.append(path)
    blocks.sort(key=lambda path: int(path.stem))
    return StoredStream(stream, directory, blocks)


def jetstream_root(store_dir: Path) -> Path:
    """Accept the stack's data dir, its nats/ dir, or the jetstream/ dir itself."""
    for candidate in (store_dir / "nats" / "jetstream", store_dir / "jetstream", store_dir):
        if candidate.is_dir() and any(candidate.glob("*/streams")):
            return candidate
    raise StoreUnreachable(f"{store_dir} holds no JetStream store (no <account>/streams inside)")


def read_blocks(
    blocks: list[Path],
    frame: Frame,
    *,
    removed: frozenset[int] = frozenset(),
    on_block: Callable[[int], None] | None = None,
    on_unreadable: Callable[[Path, int, str, int], None] | None = None,
) -> BlocksRead:
    """Every message of ``blocks`` through ``frame``, in order, less the sequences in
    ``removed`` (tombstones found by an earlier read: a tombstone comes after the message it
    removes, maybe blocks later). ``on_block``: called with the messages of each block read;
    ``on_unreadable``: with each unreadable record (block, offset, why, the highest sequence
    read before it) where it is met."""
    found = BlocksRead()
    for path in blocks:
        before, bad = found.messages, len(found.unreadable)
        _read_block(path, path.read_bytes(), frame, removed, found)
        if on_unreadable is not None and len(found.unreadable) > bad:
            on_unreadable(*found.unreadable[-1], found.last_seq)
        if on_block is not None:
            on_block(found.messages - before)
    return found


def _read_block(
    path: Path, buf: bytes, frame: Frame, removed: frozenset[int], found: BlocksRead
) -> None:
    if buf.startswith(COMPRESSED) and len(buf) >= 5:
        raise UnknownStoreFormat(f"{path} is compressed (algorithm {buf[3]}): not readable")
    unpack, header_length = RECORD.unpack_from, HEADER_LENGTH.unpack_from
    at, end = 0, len(buf)
    messages, last_seq = found.messages, found.last_seq
    try:
        while at < end:
            if at + EMPTY_RECORD > end:
                raise _Unreadable(at, "a record cut short")
            length, seq, _, subject_length = unpack(buf, at)
            has_headers = length & HAS_HEADERS
            length &= ~HAS_HEADERS
            stop = at + length - CHECKSUM  # where the payload ends
            start = at + RECORD_HEAD + subject_length  # where the subject ends
            if length < EMPTY_RECORD or length > TOO_LONG or at + length > end or start > stop:
                raise _Unreadable(at, f"length {length}, subject length {subject_length}")
            if seq & MARKS:
                if seq & TOMBSTONE:
                    found.tombstones.add(seq & ~MARKS)
                last_seq = max(last_seq, seq & ~MARKS)
                at += length
                continue
            if has_headers:
                (size,) = header_length(buf, start)
                if start + 4 + size > stop:
                    raise _Unreadable(at, f"header length {size}")
                header = buf[start + 4 : start + 4 + size]
                data = buf[start + 4 + size : stop]
            else:
                header, data = b"", buf[start:stop]
            if seq > last_seq:
                last_seq = seq
            if not removed or seq not in removed:
                frame(buf[at + RECORD_HEAD : start], seq, header, data)
                messages += 1
            at += length
    except _Unreadable as bad:
        found.unreadable.append((path, bad.at, bad.why))
    finally:
        found.messages, found.last_seq = messages, last_seq


class _Unreadable(Exception):
    def __init__(self, at: int, why: str) -> None:
        super().__init__(why)
        self.at, self.why = at, why
