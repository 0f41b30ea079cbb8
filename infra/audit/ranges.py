"""The chain check in several processes: contiguous ranges of the log, each verified in its own
process, joined in order into one verdict (ADR 0031).

One Python process verifies ~200k events per CPU second; hashlib holds the GIL for inputs under
2 KiB, so threads add nothing. The first range is verified in this process, straight into the
auditor's verifier; each other one by a worker (infra/audit/range_worker.py) over its own wire
client with this process's NATS security, which returns a :class:`RangePart`. The auditor's
:meth:`StreamVerifier.join` checks what crosses the range boundaries (the sequence link, each
aggregate's first link in the range) and folds the checkpoint digest over the ranges in order,
so the report is the one a single process gives.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from dataclasses import dataclass

from nats.aio.client import Client as NATS

from infra.audit.errors import AuditError
from infra.audit.log import Progress, StreamExtent, plain_url, verify_log
from infra.audit.range_worker import RangeTask
from infra.eventstore.verify import RangePart, StreamVerifier
from infra.nats_identity import process_nats_security


@dataclass(frozen=True)
class Ranges:
    """How the chain check is split: ``workers`` processes (this one included; 1: this process
    alone), and only
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
    """Every stored message of ``stream`` through ``verifier``, in ranges: the first in this
    process, each other one in a worker process, where that pays (else, or when the wire client
    cannot serve, all in this process)."""
    bounds = ranges.bounds(size)
    url = plain_url(nc)
    if len(bounds) == 1 or url is None:
        await verify_log(nc, stream, verifier, on_page=on_page)
        return
    (first, last), *others = bounds
    security = process_nats_security()
    tasks = [
        RangeTask(url, stream, verifier.key, verifier.signing_keys, start, end, security)
        for start, end in others
    ]
    # The first range in this process, straight into ``verifier`` (it starts the log: nothing
    # to join), the others in worker processes, joined after it in order.

    async def first_range() -> None:
        await verify_log(nc, stream, verifier, on_page=on_page, start_seq=first, up_to_seq=last)

    workers: list[asyncio.subprocess.Process] = []
    try:
        _, parts = await asyncio.gather(
            first_range(),
            asyncio.gather(*(_in_worker(task, workers, on_page) for task in tasks)),
        )
    finally:
        for worker in workers:  # one failed: the others are not waited for
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    for part in parts:
        verifier.join(part)


async def _in_worker(
    task: RangeTask, workers: list[asyncio.subprocess.Process], on_page: Progress | None
) -> RangePart:
    """``task`` verified by a worker process (infra/audit/range_worker.py)."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.audit.range_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    workers.append(worker)
    assert worker.stdin is not None
    assert worker.stdout is not None
    assert worker.stderr is not None
    worker.stdin.write(pickle.dumps(task))
    await worker.stdin.drain()
    worker.stdin.close()

    async def answer(stdout: asyncio.StreamReader) -> object:
        while line := await stdout.readline():
            kind, n = line.split()
            if kind == b"P":
                if on_page is not None:
                    on_page(int(n))
                continue
            # Our own child over its own pipe (no one else writes there).
            return pickle.loads(await stdout.readexactly(int(n)))  # noqa: S301
        return None

    got, errors = await asyncio.gather(answer(worker.stdout), worker.stderr.read())
    await worker.wait()
    if isinstance(got, AuditError):
        raise got  # unreachable store...: named with its code, as in one process
    if not isinstance(got, RangePart):
        detail = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
        raise RuntimeError(f"an audit worker failed ({worker.returncode}): {detail[0]}")
    return got
