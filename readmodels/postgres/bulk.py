"""Bulk writes for a projection batch: binary COPY, and COPY into a temp table + upsert.

asyncpg's maintainers recommend COPY into a temporary table followed by ``INSERT .. SELECT ..
ON CONFLICT`` for bulk upserts (asyncpg #749, #535); ``executemany`` is several times slower.
Each connection creates its temp tables once (``ON COMMIT DELETE ROWS`` empties them).

A live page is a few rows, where round trips are what costs: a COPY is two, a COPY-then-upsert
four (COPY, statement, emptying the temp table). Up to ``FEW`` rows go as one ``executemany``
of the same INSERT instead: one round trip (asyncpg sends every row's Bind/Execute and one
Sync), the same rows written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from readmodels.postgres.schemas import quoted

_made: dict[int, set[str]] = {}
FEW = 100
"""Rows up to which a write is one executemany rather than a COPY."""


async def _staging(conn: asyncpg.Connection, schema: str, table: str) -> str:
    temp = f"stage_{table}"
    made = _made.setdefault(id(conn), set())
    if temp not in made:
        # The table's columns without its NOT NULLs: a staged row may fill only some.
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp} ON COMMIT DELETE ROWS"
            f" AS SELECT * FROM {quoted(schema)}.{table} WITH NO DATA"
        )
        made.add(temp)
    return temp


def forget_connection(conn: asyncpg.Connection) -> None:
    """Call when a connection closes: a new one at the same address has no temp tables."""
    _made.pop(id(conn), None)


async def append(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    records: Iterable[Sequence[Any]],
) -> None:
    """Insert rows that cannot exist yet (keyed by stream position): plain binary COPY."""
    rows = list(records)
    if not rows:
        return
    if len(rows) <= FEW:
        cols = ", ".join(columns)
        values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await conn.executemany(
            f"INSERT INTO {quoted(schema)}.{table} ({cols}) VALUES ({values})", rows
        )
        return
    await conn.copy_records_to_table(table, schema_name=schema, columns=list(columns), records=rows)


async def upsert(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    records: Iterable[Sequence[Any]],
    *,
    update: Sequence[str] | None = None,
    only_if: str | None = None,
) -> None:
    """Insert or overwrite rows by ``key`` (each key at most once in ``records``).

    ``update``: the columns an existing row takes (default: every non-key column);
    ``only_if``: a condition on ``t`` (the row) and ``EXCLUDED`` for overwriting at all.
    """
    rows = list(records)
    if not rows:
        return
    cols = ", ".join(columns)
    changed = [c for c in (update if update is not None else columns) if c not in key]
    action = (
        "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in changed)
        if changed
        else "DO NOTHING"
    )
    if changed and only_if:
        action += f" WHERE {only_if}"
    conflict = f"ON CONFLICT ({', '.join(key)}) {action}"
    if len(rows) <= FEW:
        values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await conn.executemany(
            f"INSERT INTO {quoted(schema)}.{table} AS t ({cols}) VALUES ({values}) {conflict}",
            rows,
        )
        return
    temp = await _staging(conn, schema, table)
    await conn.copy_records_to_table(temp, columns=list(columns), records=rows)
    await conn.execute(
        f"INSERT INTO {quoted(schema)}.{table} AS t ({cols}) SELECT {cols} FROM {temp} {conflict}"
    )
    await conn.execute(f"DELETE FROM {temp}")  # the same transaction may stage again


async def staged(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    records: Iterable[Sequence[Any]],
) -> str | None:
    """COPY rows into the table's temp twin and return its name, for a caller's own statement
    (e.g. ``UPDATE .. FROM``); the caller empties it with ``DELETE FROM``. None if no rows."""
    rows = list(records)
    if not rows:
        return None
    temp = await _staging(conn, schema, table)
    await conn.copy_records_to_table(temp, columns=list(columns), records=rows)
    return temp
