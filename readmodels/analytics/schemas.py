"""The analytics tables, as the Pinot schemas in ``pinot/`` define them (one source for both
engines): each table's columns with their Pinot types, its primary key, and DuckDB's DDL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

FIELD_SPEC_KINDS = ("dimensionFieldSpecs", "metricFieldSpecs", "dateTimeFieldSpecs")
DUCKDB_TYPES = {
    "INT": "INTEGER",
    "LONG": "BIGINT",
    "FLOAT": "REAL",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "STRING": "VARCHAR",
    "TIMESTAMP": "TIMESTAMP",
    "BYTES": "BLOB",
}
TABLE_NAMES = ("forecasts", "forecasts_latest", "odds_quotes", "settlements", "settled_outcomes")
UPSERT_TABLES = frozenset({"forecasts_latest", "settlements", "settled_outcomes"})
"""Tables where a newer row replaces the one with its key; the others only drop duplicates."""


@dataclass(frozen=True, slots=True)
class AnalyticsTable:
    name: str
    columns: tuple[tuple[str, str], ...]
    """(name, Pinot data type), in schema order: the order rows are written in."""
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def upsert(self) -> bool:
        return self.name in UPSERT_TABLES

    def duckdb_ddl(self, name: str | None = None) -> str:
        """Upsert tables get their primary key (``INSERT OR REPLACE`` needs it); append-only
        tables none: the stored positions already make each row's insert happen once, and a
        key index on millions of rows would cost every insert for nothing. ``name``: another
        name for the table (a rebuild's)."""
        columns = ", ".join(f'"{name}" {DUCKDB_TYPES[kind]}' for name, kind in self.columns)
        if self.upsert:
            key = ", ".join(f'"{name}"' for name in self.primary_key)
            columns += f", PRIMARY KEY ({key})"
        return f'CREATE TABLE IF NOT EXISTS "{name or self.name}" ({columns})'


def pinot_document(name: str, kind: str) -> dict[str, Any]:
    """``kind`` is ``schema`` or ``table``: the JSON Pinot's controller is given."""
    text = resources.files("readmodels.analytics").joinpath(f"pinot/{name}.{kind}.json")
    document: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return document


@cache
def analytics_table(name: str) -> AnalyticsTable:
    schema = pinot_document(name, "schema")
    columns = tuple(
        (str(spec["name"]), str(spec["dataType"]))
        for kind in FIELD_SPEC_KINDS
        for spec in schema.get(kind, [])
    )
    return AnalyticsTable(name, columns, tuple(schema["primaryKeyColumns"]))


def analytics_tables() -> tuple[AnalyticsTable, ...]:
    return tuple(analytics_table(name) for name in TABLE_NAMES)
