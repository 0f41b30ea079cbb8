"""The chain check in several processes: contiguous ranges of the log, each verified in its own
process, joined in order into one verdict (ADR 0031).

One Python process verifies ~200k events per CPU second; hashlib holds the GIL for inputs under
2 KiB, so threads add nothing. Each worker reads its range over its own wire client with this
process's NATS security and returns a :class:`RangePart`; the parent's
:meth:`StreamVerifier.join` checks what crosses the range boundaries (the sequence link, each
aggregate's first link in the range) and folds the checkpoint digest over the ranges in order,
so the report is the one a single process gives.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from nats.aio.client import Client as NATS

from infra.audit.log import Progress, StreamExtent, plain_url, verify_log
from infra.audit.store import open_log
from infra.connections import process_nats_security, use_nats_security
from infra.eventstore.security import NatsSecurity
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import RangePart, StreamVerifier

_POLL = 0.1  # seconds between looks at the workers' progress


@dataclass(frozen=True)
class Ranges:
    """How the chain check is split: ``workers`` processes (1: this process alone), and only
    for logs of at least ``from_messages`` messages (below, start-up costs more than it saves)."""

    workers: int
    from_messages: int

    def bounds(self, size: StreamExtent) -> list[tuple[int, int | None]]:
        """Contiguous (first, last) sequences covering the log from 1; the last range is open
        (it reads whatever the stream holds by then, as a single process would)."""
        n = self.workers if size.messages >= self.from_messages else 1
        n = max(1, min(n, size.last_seq))
        if n == 1:
            return [(1, None)]
        step = -(-size.last_seq // n)  # ceiling
        starts = [1 + i * step for i in range(n) if 1 + i * step <= size.last_seq]
        return [
            (start, starts[i + 1] - 1 if i + 1 < len(starts) else None)
            for i, start in enumerate(starts)
        ]


def default_workers(configured: int | None) -> int:
    return configured if configured is not None else (os.cpu_count() or 1)


async def verify_ranges(
    nc: NATS,
    stream: str,
    verifier: StreamVerifier,
    size: StreamExtent,
    ranges: Ranges,
    *,
    on_page: Progress | None = None,
) -> None:
    """Every stored message of ``stream`` through ``verifier``, in ranges verified by worker
    processes where that pays (else, or when the wire client cannot serve, in this process)."""
    bounds = ranges.bounds(size)
    url = plain_url(nc)
    if len(bounds) == 1 or url is None:
        await verify_log(nc, stream, verifier, on_page=on_page)
        return
    context = multiprocessing.get_context("spawn")
    progress: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    security = process_nats_security()
    with ProcessPoolExecutor(
        len(bounds), mp_context=context, initializer=_start, initargs=(security, progress)
    ) as pool:
        futures = [
            pool.submit(
                _verify_range, url, stream, verifier.key, verifier.signing_keys, first, last
            )
            for first, last in bounds
        ]
        await _follow(futures, progress, on_page)
        parts = [f.result() for f in futures]  # a worker's error (StoreUnreachable...) is raised
    for part in parts:
        verifier.join(part)


async def _follow(
    futures: list[Future[RangePart]],
    progress: multiprocessing.SimpleQueue[int],
    on_page: Progress | None,
) -> None:
    """Wait for every range, advancing ``on_page`` by the pages the workers report read."""
    waiting = [asyncio.wrap_future(f) for f in futures]
    while True:
        _, pending = await asyncio.wait(waiting, timeout=_POLL)
        while not progress.empty():
            read = progress.get()
            if on_page is not None:
                on_page(read)
        if not pending:
            return


_progress: multiprocessing.SimpleQueue[int] | None = None


def _start(security: NatsSecurity, progress: multiprocessing.SimpleQueue[int]) -> None:
    """A worker process's start: the parent's NATS identity and its progress queue."""
    global _progress
    use_nats_security(security)
    _progress = progress


def _verify_range(
    url: str,
    stream: str,
    key: bytes,
    signing_keys: Mapping[str, bytes] | None,
    first: int,
    last: int | None,
) -> RangePart:
    """One range of the log verified in a worker process (its own connection and wire client)."""
    verifier = StreamVerifier(
        SubjectLayout(stream), key=key, signing_keys=signing_keys, range_part=True
    )

    def advance(read: int) -> None:
        if _progress is not None:
            _progress.put(read)

    async def run() -> None:
        async with open_log(url=url) as nc:
            await verify_log(nc, stream, verifier, on_page=advance, start_seq=first, up_to_seq=last)

    asyncio.run(run())
    return verifier.part()
