"""The chain check of a stream read from a store directory's message blocks (infra/audit/
blocks.py), in several processes where there are blocks to share (ADR 0034).

The blocks are cut into contiguous runs: the first is verified in this process, straight into
the auditor's verifier, each other one in a child forked from it (no interpreter to start, no
module to import again: a fork costs milliseconds), which sends its :class:`RangePart` back
over a pipe; :meth:`StreamVerifier.join` joins them in order into the verdict one process
gives (ADR 0031), folding the children's events into the checkpoint digest after its own run.

A tombstone names a message removed after it was written, maybe blocks later: if the read
meets any (a stream that denies deletes never holds one), the stream is read again with them
known, so the verdict is the one a server serving these files would give.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from infra.audit.blocks import BlocksRead, StoredStream, read_blocks
from infra.audit.log import Progress
from infra.eventstore.verify import Problem, RangePart, StreamVerifier

MakeVerifier = Callable[[bool], StreamVerifier]
"""A fresh verifier of the stream: of one range of it (True), or of the whole (False)."""

FIRST_SHARE = 1.0
"""This process's run, against 1 for each child's. The join (unpickling a child's part, ~0.4 us
an event, and folding its events into the checkpoint digest, ~1 us) comes after both runs, in
series, whatever the shares; a child's run costs ~0.8 us an event more than this process's
(the part it hands over), about what equal shares balance."""


@dataclass(frozen=True)
class StoredVerdict:
    verifier: StreamVerifier
    messages: int
    last_seq: int  # the highest sequence the blocks name (removed messages included)


def verify_stored(
    stored: StoredStream,
    make: MakeVerifier,
    *,
    processes: int = 1,
    on_page: Progress | None = None,
) -> StoredVerdict:
    """Every message in ``stored``'s blocks through a verifier from ``make``."""
    verifier, read = _verify(stored.blocks, make, processes, frozenset(), on_page)
    if read.tombstones:
        counted = read.messages
        verifier, read = _verify(stored.blocks, make, processes, frozenset(read.tombstones), None)
        if on_page is not None:
            on_page(read.messages - counted)  # the removed messages the first read counted
    return StoredVerdict(verifier, read.messages, read.last_seq)


def split_processes(cpus: int, load: float) -> int:
    """How many processes to verify with when none was configured: one per core while the
    1-minute load average stays under twice the cores, else one. A child shares the auditor's
    CPU share (one autogroup): on a busy machine the split only adds its own costs. On the
    2-core box two processes were 1.31x one at load 3.4 and 0.78x at load 8.5 (ADR 0034)."""
    return cpus if load < 2 * cpus else 1


def default_processes() -> int:
    return split_processes(os.cpu_count() or 1, os.getloadavg()[0])


def runs(blocks: list[Path], processes: int) -> list[list[Path]]:
    """``blocks`` cut into at most ``processes`` contiguous runs by size, the first one
    FIRST_SHARE of the others' size."""
    n = max(1, min(processes, len(blocks)))
    if n == 1:
        return [blocks]
    sizes = [block.stat().st_size for block in blocks]
    total = sum(sizes)
    unit = total / (FIRST_SHARE + n - 1)
    bounds = [FIRST_SHARE * unit + i * unit for i in range(n - 1)]  # where each run ends
    cut: list[list[Path]] = [[]]
    done = 0.0
    for block, size in zip(blocks, sizes, strict=True):
        if len(cut) < n and cut[-1] and done + size / 2 > bounds[len(cut) - 1]:
            cut.append([])
        cut[-1].append(block)
        done += size
    return cut


def _verify(
    blocks: list[Path],
    make: MakeVerifier,
    processes: int,
    removed: frozenset[int],
    on_page: Progress | None,
) -> tuple[StreamVerifier, BlocksRead]:
    first, *others = runs(blocks, processes if hasattr(os, "fork") else 1)
    children = [
        _fork(run, make, removed, last=i == len(others) - 1) for i, run in enumerate(others)
    ]
    try:
        verifier = make(False)
        read = read_blocks(
            first,
            verifier.frame,
            removed=removed,
            on_block=on_page,
            on_unreadable=_unreadable(verifier),
        )
        for pid, answer in children:
            part, theirs = _answer(pid, answer)
            verifier.join(part)
            read.messages += theirs.messages
            read.last_seq = max(read.last_seq, theirs.last_seq)
            read.tombstones |= theirs.tombstones
            if on_page is not None:
                on_page(theirs.messages)
    finally:
        for pid, answer in children:  # one failed: the others are not waited for
            answer.close()
            _reap(pid)
    return verifier, read


def _unreadable(verifier: StreamVerifier) -> Callable[[Path, int, str, int], None]:
    def found(block: Path, at: int, why: str, after_seq: int) -> None:
        detail = f"record at byte {at} of block {block.name} not readable ({why}); rest skipped"
        verifier.problems.append(Problem("unreadable-record", after_seq, block.name, detail))

    return found


def _fork(
    run: list[Path], make: MakeVerifier, removed: frozenset[int], *, last: bool
) -> tuple[int, BinaryIO]:
    """A child verifying ``run`` as a range of the log; its answer comes back on the pipe
    (``last``: the log's last run, whose tails no later run needs)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: verify, answer, and leave without running the parent's exits
        code, answer = 1, b""
        try:
            os.close(read_end)
            verifier = make(True)
            read = read_blocks(
                run, verifier.frame, removed=removed, on_unreadable=_unreadable(verifier)
            )
            answer = pickle.dumps((verifier.part(last), read))
            code = 0
        except BaseException as error:  # handed to the parent, which raises it
            answer = pickle.dumps(error)
        finally:
            try:
                with os.fdopen(write_end, "wb") as out:
                    out.write(answer)
            finally:
                os._exit(code)
    os.close(write_end)
    return pid, os.fdopen(read_end, "rb")


def _answer(pid: int, pipe: BinaryIO) -> tuple[RangePart, BlocksRead]:
    raw = pipe.read()
    got = pickle.loads(raw) if raw else None  # noqa: S301 (our own child, over our own pipe)
    if isinstance(got, BaseException):
        raise got  # an UnknownStoreFormat...: named with its code, as in one process
    if not isinstance(got, tuple):
        _, status = os.waitpid(pid, 0)
        raise RuntimeError(f"an audit child process ended without an answer (status {status})")
    part, read = got
    assert isinstance(part, RangePart)
    assert isinstance(read, BlocksRead)
    return part, read


def _reap(pid: int) -> None:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # already waited for
