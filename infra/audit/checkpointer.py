"""Signed checkpoints written by a running stack: on a schedule, and once more on shutdown.

A checkpoint commits to every event before it (see infra/eventstore/checkpoint.py); signing it
with a key the log's writers do not hold makes a truncated or forged head detectable: the
auditor's last known checkpoint (its witness) must still be in the log, and nobody without the
key can write a valid checkpoint over forged events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from infra.eventstore.checkpoint import Checkpoint, SigningKey, write_checkpoint
from infra.eventstore.reader import DirectReader
from infra.eventstore.subjects import SubjectLayout

log = logging.getLogger("sportcast.audit")


@dataclass
class StreamSeals:
    """What the checkpointer has done for one stream since it started (read by its metrics)."""

    writes: int = 0
    failures: int = 0
    position: int = 0
    """The position the last checkpoint written covers (0: none written yet)."""
    sealed_at: float | None = None
    """When (Unix time) the stream was last found sealed up to its head: a checkpoint written,
    or none needed (nothing new, or the stream not made yet)."""


class Checkpointer:
    """Seals each stream every ``interval`` seconds while running, and at :meth:`stop`."""

    def __init__(
        self,
        nc: NATS,
        streams: Sequence[str],
        *,
        chain_key: bytes,
        signing: SigningKey | None,
        interval: float,
    ) -> None:
        self._nc = nc
        self._streams = list(streams)
        self._chain_key = chain_key
        self._signing = signing
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.seals = {stream: StreamSeals() for stream in self._streams}
        self.stopped = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._every_interval(), name="checkpointer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.seal()
        self.stopped = True

    async def seal(self) -> list[Checkpoint]:
        """A checkpoint over each stream's new events; a failure is logged, never raised."""
        written = []
        js = self._nc.jetstream()
        for stream in self._streams:
            seals = self.seals[stream]
            try:
                await js.stream_info(stream)
            except NotFoundError:
                seals.sealed_at = time.time()  # not made yet (no forecaster has run, say)
                continue
            except Exception as error:
                seals.failures += 1
                log.warning("checkpoint of stream %s skipped: %r", stream, error)
                continue
            try:
                reader = DirectReader(self._nc, stream)
                await reader.start()
                checkpoint = await write_checkpoint(
                    reader, SubjectLayout(stream), key=self._chain_key, signing=self._signing
                )
            except Exception as error:  # the next round tries again; the audit reports the rest
                seals.failures += 1
                log.warning("checkpoint of stream %s failed: %r", stream, error)
                continue
            seals.sealed_at = time.time()
            if checkpoint is not None:
                seals.writes += 1
                seals.position = checkpoint.upto_seq
                written.append(checkpoint)
                log.info("checkpoint %s up to position %s", stream, checkpoint.upto_seq)
        self.written += len(written)
        return written

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.seal()


def load_or_make_keys(path: Path) -> tuple[SigningKey, dict[str, bytes]]:
    """The embedded stack's signing keys: {"current": id, "keys": {id: hex}} in a 0600 file."""
    if not path.exists():
        key_id = "k1"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps({"current": key_id, "keys": {key_id: secrets.token_hex(32)}}))
    return read_keys(path)


def read_keys(path: Path) -> tuple[SigningKey, dict[str, bytes]]:
    content = json.loads(path.read_text())
    keys = {k: bytes.fromhex(v) for k, v in content["keys"].items()}
    current = content["current"]
    return SigningKey(current, keys[current]), keys
