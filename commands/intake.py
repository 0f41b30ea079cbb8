"""The feed intake port: what the edges (HTTP ingest, the feed player, the CLI) need from the
application to take in feed payloads. The composition root supplies the implementation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from commands.ingestion import Accepted, FeedCommand
from domain.provenance import Provenance


@dataclass(frozen=True, kw_only=True)
class RefusedPayload:
    """A feed payload that was refused, kept byte for byte with the reason.

    ``origin`` says where the bytes came from (e.g. a dataset file and line); ``key`` is the
    idempotency key of the refused message, when it had one: it tells apart several refused
    messages made from the same bytes, and is what a retry re-submits under."""

    raw: bytes
    source: str
    kind: str
    reason_code: str
    reason: str
    origin: str = ""
    key: str = ""


class FeedIntake(Protocol):
    """Where feed payloads go: raw bytes kept, commands applied, refusals quarantined."""

    async def keep_raw(self, raw: bytes) -> str:
        """Store the payload as received; return its reference (``sha256:<hex>``)."""
        ...

    async def submit(self, command: FeedCommand) -> Accepted:
        """Apply the command; raises DomainError when the domain refuses it."""
        ...

    async def quarantine(self, refused: RefusedPayload) -> int:
        """Keep a refused payload with its reason; return its quarantine sequence."""
        ...


class PayloadDecoder(Protocol):
    """Rebuilds a command from a payload as the feed sent it (``kind`` as quarantined)."""

    def __call__(
        self, kind: str, raw: bytes, *, key: str, provenance: Provenance, source: str
    ) -> FeedCommand: ...
