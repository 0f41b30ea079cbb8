"""What every command carries."""

from __future__ import annotations

from dataclasses import dataclass

from domain.provenance import Provenance


@dataclass(frozen=True, kw_only=True)
class Command:
    idempotency_key: str
    """Chosen by the sender, stable across retries of the same intent."""
    provenance: Provenance
