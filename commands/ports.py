"""The ports the command side needs from the outside world; adapters live in infra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class RecordedOutcome:
    """What a command did, kept so a retry with the same idempotency key gets the same answer."""

    aggregate_id: UUID
    version: int
    """The aggregate's version after the command's events were saved."""
    rejected_code: str | None = None
    """The DomainError code when the command was rejected; None when it was accepted."""


class IdempotencyStore(Protocol):
    """Remembers the outcome of each command by its idempotency key.

    Async because every adapter we plan (JetStream KV, PostgreSQL) does network I/O.
    """

    async def lookup(self, key: str) -> RecordedOutcome | None: ...

    async def record(self, key: str, outcome: RecordedOutcome) -> None: ...
