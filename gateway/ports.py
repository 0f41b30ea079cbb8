"""What the gateway needs from the outside, as protocols; the composition root supplies them."""

from __future__ import annotations

from typing import Protocol

from commands.ingestion import Accepted, FeedCommand


class VersionProbe(Protocol):
    """Reports the version of one backing service, raising if it cannot be reached."""

    name: str

    async def version(self) -> str: ...


class FeedIntake(Protocol):
    """Where feed payloads go: raw bytes kept, commands applied, refusals quarantined."""

    async def keep_raw(self, raw: bytes) -> str:
        """Store the payload as received; return its reference (``sha256:<hex>``)."""
        ...

    async def submit(self, command: FeedCommand) -> Accepted:
        """Apply the command; raises DomainError when the domain refuses it."""
        ...

    async def quarantine(
        self,
        *,
        raw: bytes,
        source: str,
        kind: str,
        reason_code: str,
        reason: str,
        origin: str = "",
        key: str = "",
    ) -> int:
        """Keep a refused payload with its reason; return its quarantine sequence.

        ``origin`` says where the bytes came from (e.g. a dataset file and line); ``key`` is the
        idempotency key of the refused message, when it had one."""
        ...
