"""Is the store whole? Checked at start and on demand (docs/adr/0018).

nats-server does not always say when its files are damaged: after one flipped byte it may
restore a stream cut short at the damaged record (every later message gone, no loss
reported), or skip the damaged message on reads while its state still counts it. So besides
what the server reports (``lost`` data, deleted sequences, a first sequence other than 1 in
streams that deny deletes), each stream's head is recorded outside JetStream
(``<data dir>/store-heads.json``: last sequence and a digest of that message) and compared at
the next start: a stream whose last sequence went backwards, or whose recorded head message
changed, lost acknowledged messages. ``full`` also reads every message of the event streams
and verifies their hash chains (infra/eventstore/verify.py): missing sequences in the middle.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from infra.connections import connect_nats
from infra.eventstore.verify import verify_stream
from infra.feeds.payloads import STREAM as PAYLOADS_STREAM
from infra.feeds.quarantine import STREAM as QUARANTINE_STREAM
from infra.settings import Settings
from infra.store_seal import kept_breaks

log = logging.getLogger("sportcast.store")


@dataclass(frozen=True)
class StreamHead:
    seq: int
    digest: str


@dataclass(frozen=True)
class StoreProblem:
    stream: str
    kind: str
    """lost-data | missing-sequences | head-deleted | truncated | head-changed | file-changed |
    chain (full)"""
    detail: str

    def __str__(self) -> str:
        return f"{self.stream}: {self.kind}: {self.detail}"


@dataclass
class StoreCheck:
    problems: list[StoreProblem] = field(default_factory=list)
    heads: dict[str, StreamHead] = field(default_factory=dict)
    streams: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class HeadBook:
    """The recorded heads, one JSON file written atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, StreamHead]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {name: StreamHead(**head) for name, head in raw.items()}

    def save(self, heads: dict[str, StreamHead]) -> None:
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w") as out:
            json.dump({name: asdict(head) for name, head in heads.items()}, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.path)


def _digest(subject: str | None, data: bytes | None) -> str:
    return hashlib.sha256((subject or "").encode() + b"\x00" + (data or b"")).hexdigest()


async def _head(nc: NATS, stream: str, seq: int) -> StreamHead | None:
    try:
        msg = await nc.jetstream().get_msg(stream, seq)
    except NotFoundError:
        return None
    return StreamHead(seq, _digest(msg.subject, msg.data))


async def check_streams(
    nc: NATS,
    streams: Iterable[str],
    recorded: dict[str, StreamHead],
    *,
    chained: Iterable[str] = (),
    full: bool = False,
    url: str = "",
) -> StoreCheck:
    """Check each of ``streams`` that exists; ``chained`` are event-store streams (hash chains)
    that ``full`` verifies message by message (over ``url``)."""
    check = StoreCheck()
    js = nc.jetstream()
    chains = set(chained)
    for stream in streams:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            if stream in recorded:
                check.problems.append(StoreProblem(stream, "truncated", "the stream is gone"))
            continue
        check.streams.append(stream)
        state = info.state
        if state.lost is not None and (state.lost.msgs or state.lost.bytes):
            lost = state.lost.msgs or []
            detail = f"the server reports {len(lost)} messages lost to damage: {lost[:10]}"
            check.problems.append(StoreProblem(stream, "lost-data", detail))
        if state.num_deleted:
            span = f"{state.first_seq} and {state.last_seq}"
            detail = f"{state.num_deleted} sequences missing between {span}"
            check.problems.append(StoreProblem(stream, "missing-sequences", detail))
        if state.messages and state.first_seq != 1:
            detail = f"the stream starts at sequence {state.first_seq}, not 1"
            check.problems.append(StoreProblem(stream, "head-deleted", detail))
        known = recorded.get(stream)
        if known is not None:
            check.problems.extend(await _compare(nc, stream, known, state.last_seq))
        if state.last_seq:
            head = await _head(nc, stream, state.last_seq)
            if head is not None:
                check.heads[stream] = head
        if full and stream in chains and url:
            check.problems.extend(_verify(url, stream))
    return check


async def _compare(nc: NATS, stream: str, known: StreamHead, last_seq: int) -> list[StoreProblem]:
    if last_seq < known.seq:
        detail = (
            f"the last sequence is {last_seq}, but {known.seq} was stored and recorded:"
            f" {known.seq - last_seq} acknowledged messages are gone"
        )
        return [StoreProblem(stream, "truncated", detail)]
    now = await _head(nc, stream, known.seq)
    if now is None or now.digest != known.digest:
        detail = (
            f"message {known.seq}, recorded as the head, is {'gone' if now is None else 'changed'}"
        )
        return [StoreProblem(stream, "head-changed", detail)]
    return []


def _verify(url: str, stream: str) -> list[StoreProblem]:
    report = verify_stream(url, stream)
    grouped: dict[str, list[int]] = {}
    for problem in report.problems:
        grouped.setdefault(problem.kind, []).append(problem.seq)
    return [
        StoreProblem(stream, kind, f"{len(seqs)} at sequences {seqs[:10]}")
        for kind, seqs in grouped.items()
    ]


def keep_heads(book: HeadBook, check: StoreCheck) -> None:
    """Record the heads just seen, except for a damaged stream: its old head is kept, so the
    damage is reported again at every start until someone looks (``--accept-damage``)."""
    damaged = {p.stream for p in check.problems}
    heads = book.load()
    heads.update({name: head for name, head in check.heads.items() if name not in damaged})
    with contextlib.suppress(OSError):
        book.save(heads)


def event_streams(settings: Settings) -> list[str]:
    """The event-store streams (hash-chained) that sportcast writes."""
    return [
        settings.stream_name,
        settings.forecaster_stream,
        settings.feed_health_stream,
        settings.model_registry_stream,
    ]


def heads_book(settings: Settings) -> HeadBook:
    return HeadBook(settings.state_dir / "store-heads.json")


def run_store_check(settings: Settings, url: str, *, full: bool = False) -> StoreCheck:
    """Check every stream sportcast writes against the heads recorded in the data directory."""
    chained = event_streams(settings)

    async def check() -> StoreCheck:
        nc = await connect_nats(url, name="sportcast-store-check", reconnect=False)
        try:
            return await check_streams(
                nc,
                [*chained, PAYLOADS_STREAM, QUARANTINE_STREAM],
                heads_book(settings).load(),
                chained=chained,
                full=full,
                url=url,
            )
        finally:
            await nc.close()

    found = asyncio.run(check())
    # What changed while the embedded store was stopped (infra/store_seal.py).
    for broken in kept_breaks(settings.nats_store_dir):
        found.problems.append(
            StoreProblem(broken.stream or "store", "file-changed", broken.detail())
        )
    return found


class StoreWatch:
    """Re-checks the store every ``every`` seconds while the stack runs: records the heads it
    finds whole, and reports (once per problem) what it finds damaged."""

    def __init__(
        self, settings: Settings, url: str, report: Callable[[str], None], *, every: float = 30.0
    ) -> None:
        self.settings, self.url, self.report, self.every = settings, url, report, every
        self.reported: set[str] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self.tick()  # the heads at a clean stop

    def tick(self) -> StoreCheck | None:
        try:
            check = run_store_check(self.settings, self.url)
        except Exception as exc:  # the store is down: the supervisor handles that
            log.info("store check skipped: %s", exc)
            return None
        for problem in check.problems:
            if str(problem) not in self.reported:
                self.reported.add(str(problem))
                self.report(f"STORE DAMAGED: {problem}")
        keep_heads(heads_book(self.settings), check)
        return check

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            self.tick()
