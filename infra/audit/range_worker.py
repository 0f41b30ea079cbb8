"""One worker process of the split chain check (infra/audit/ranges.py):
``python -m infra.audit.range_worker`` reads its :class:`RangeTask` (pickled) on stdin, verifies
that range of the log over its own connection and wire client, and answers on stdout: a line
``P n`` per page read (n messages), then ``R size`` and its pickled :class:`RangePart`, or
``E size`` and the pickled :class:`AuditError` that stopped it.

A plain interpreter running this module, not a multiprocessing child: those import the parent's
main module again (the whole CLI, ~2.4 CPU seconds each on the 2-core box under load), where
this module's imports cost ~0.3.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from infra.audit.errors import AuditError
from infra.audit.log import verify_log
from infra.audit.store import open_log
from infra.eventstore.security import NatsSecurity
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import RangePart, StreamVerifier
from infra.nats_identity import use_nats_security


@dataclass(frozen=True)
class RangeTask:
    url: str
    stream: str
    key: bytes
    signing_keys: Mapping[str, bytes] | None
    first: int
    last: int | None  # None: to the end of the stream
    security: NatsSecurity


def verify_range(task: RangeTask, out: BinaryIO) -> RangePart:
    """``task``'s range of the log, its pages reported on ``out`` as they are read."""
    verifier = StreamVerifier(
        SubjectLayout(task.stream), key=task.key, signing_keys=task.signing_keys, range_part=True
    )

    def advance(read: int) -> None:
        out.write(b"P %d\n" % read)
        out.flush()

    async def run() -> None:
        async with open_log(url=task.url) as nc:
            await verify_log(
                nc, task.stream, verifier, on_page=advance, start_seq=task.first,
                up_to_seq=task.last,
            )  # fmt: skip

    asyncio.run(run())
    return verifier.part(task.last is None)  # the open range is the log's last


def main() -> None:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries the answer only
    task = pickle.load(sys.stdin.buffer)  # noqa: S301 (from the parent that started us)
    use_nats_security(task.security)  # the parent's NATS identity: this process's entry point
    try:
        answer, kind = pickle.dumps(verify_range(task, out)), b"R"
    except AuditError as error:
        answer, kind = pickle.dumps(error), b"E"
    out.write(b"%s %d\n" % (kind, len(answer)))
    out.write(answer)
    out.flush()


if __name__ == "__main__":
    main()
