"""The feed intake behind the gateway and the CLI: raw bytes kept, commands applied through the
ingestion service on the JetStream event store, refusals quarantined."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from commands.ingestion import Accepted, FeedCommand, FeedIngestion
from commands.intake import RefusedPayload
from domain.errors import DomainError
from infra.feeds.payloads import PayloadStore
from infra.feeds.quarantine import Quarantine


class JetStreamFeedIntake:
    def __init__(
        self,
        ingestion: FeedIngestion,
        payloads: PayloadStore,
        quarantine_store: Quarantine,
        *,
        workers: int = 32,
    ) -> None:
        self.ingestion = ingestion
        self.payloads = payloads
        self.quarantine_store = quarantine_store
        # eventsourcing is synchronous; saves from many threads are merged by group commit.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")

    async def keep_raw(self, raw: bytes) -> str:
        return await self.payloads.keep(raw)

    async def submit(self, command: FeedCommand) -> Accepted:
        loop = asyncio.get_running_loop()
        # In the request's context, so the store's span joins the request's trace.
        run = contextvars.copy_context().run
        return await loop.run_in_executor(self._pool, run, self.ingestion.handle, command)

    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        loop = asyncio.get_running_loop()
        run = contextvars.copy_context().run
        return await loop.run_in_executor(self._pool, run, self.ingestion.handle_many, commands)

    async def honoured(self, key: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.ingestion.honoured, key)

    async def quarantine(self, refused: RefusedPayload) -> int:
        return await self.quarantine_store.hold(refused)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
