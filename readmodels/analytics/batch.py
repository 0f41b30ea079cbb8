"""What one transaction of the analytics projection writes: rows, the facts it keeps to
flatten later events, and the positions those rows bring the projection to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from readmodels.analytics.schemas import analytics_table

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FixtureFacts:
    """What a row needs to know of its fixture; the result once there is one."""

    fixture_id: str
    sport: str
    competition: str
    season: str
    kickoff_at: int
    home_score: int | None = None
    away_score: int | None = None
    result_position: int | None = None
    """The feed notification id of the result (or of its latest correction)."""
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class BookFacts:
    book_id: str
    fixture_id: str
    source: str
    market: str


@dataclass
class AnalyticsBatch:
    """Rows per table, keyed by their primary key: a later row with the same key replaces an
    earlier one in the same batch (what an upsert table keeps, and a harmless no-op for the
    append-only tables, whose keys never repeat)."""

    rows: dict[str, dict[tuple[Any, ...], Row]] = field(default_factory=dict)
    fixtures: dict[str, FixtureFacts] = field(default_factory=dict)
    books: dict[str, BookFacts] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, row: Row) -> None:
        key = tuple(row[column] for column in analytics_table(table).primary_key)
        self.rows.setdefault(table, {})[key] = row

    def table_rows(self, table: str) -> list[Row]:
        return list(self.rows.get(table, {}).values())

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def is_empty(self) -> bool:
        return not (self.rows or self.fixtures or self.books or self.positions)
