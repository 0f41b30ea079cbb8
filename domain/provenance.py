"""Where a fact came from: carried by every event a command causes, so any event can be traced
back to the provider's message and the raw payload we kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidProvenance


@dataclass(frozen=True)
class Provenance:
    source: str
    """The feed or provider, e.g. ``football-data-csv`` or ``betfair-stream``."""
    received_at: datetime
    """When we received the message (timezone-aware)."""
    source_event_id: str | None = None
    """The provider's own id for the message, when it has one."""
    payload_ref: str | None = None
    """Where the raw payload is kept: a content hash (``sha256:...``) or an object-store key."""

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise InvalidProvenance("provenance needs a source, got an empty string")
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise InvalidProvenance(
                f"provenance received_at must be timezone-aware, got {self.received_at.isoformat()}"
            )
