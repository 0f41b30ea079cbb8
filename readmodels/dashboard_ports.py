"""What the dashboard reads besides the named queries (ports on the read side; the composition
root supplies PostgreSQL adapters, infra/dashboard_sources.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FixtureSummary:
    fixture_id: str
    sport: str
    competition: str
    home: str
    away: str
    kickoff_ms: int | None
    status: str


@dataclass(frozen=True)
class QuarantineCount:
    reason_code: str
    count: int


class FixtureDirectory(Protocol):
    async def fixtures(self, ids: Sequence[str]) -> list[FixtureSummary]:
        """The fixtures with these ids that exist (any order)."""
        ...


class QuarantineCounts(Protocol):
    async def counts(self) -> list[QuarantineCount]:
        """Refused payloads kept, by reason code."""
        ...
