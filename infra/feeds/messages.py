"""A feed message: a command to be, with the moment the feed emits it and its raw source bytes.

Replay and the simulator both turn their input into these; the player applies them in event
time. A message builds its command only when played (with the provenance of that moment), and
building may itself refuse (a DomainError), which the player quarantines like any refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from commands.ingestion import FeedCommand
from domain.provenance import Provenance


@dataclass(frozen=True, kw_only=True)
class FeedMessage:
    at: datetime
    """When the feed emits it (event time)."""
    partition: str
    """Messages with the same partition (a fixture) are applied one after another, in order."""
    kind: str  # fixture | odds | match-event
    key: str
    """Idempotency key: stable across replays, so replaying twice adds nothing."""
    raw: bytes
    origin: str
    """Where the raw bytes come from, e.g. ``football/england__premier-league.csv:17``."""
    build: Callable[[str, Provenance], FeedCommand]
    """(idempotency key, provenance) -> command."""
    group: str = ""
    """What the partition belongs to whose messages consumers learn from together (a
    competition: the forecaster's ratings are per league). A parallel replay keeps a group in
    one worker, so within a group the store keeps the player's order."""
