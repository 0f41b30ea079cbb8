"""What every query module shares: anything asyncpg can fetch through, and row building."""

from __future__ import annotations

from typing import Any, TypeVar

import asyncpg

Queryable = asyncpg.Connection | asyncpg.Pool
"""A connection or a pool: both fetch."""

R = TypeVar("R")


def rows_as(kind: type[R], records: list[asyncpg.Record]) -> list[R]:
    return [kind(**dict(r)) for r in records]


def where(conditions: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """A WHERE clause from (SQL with one ``{}`` for the parameter, value) pairs whose value is
    not None, and its arguments, numbered from $1."""
    parts: list[str] = []
    args: list[Any] = []
    for sql, value in conditions:
        if value is None:
            continue
        args.append(value)
        parts.append(sql.format(f"${len(args)}"))
    return (" WHERE " + " AND ".join(parts)) if parts else "", args
