"""The embedded analytics engine: a DuckDB file holding the Pinot schemas' tables.

Every write is one transaction holding the rows, the facts kept to flatten later events, and
the positions the rows bring the projection to, so a crash leaves either all of a batch or
none of it, and a restart resumes exactly after the last batch written (docs/adr/0005).
A file made for other columns (an older version of the schemas) is emptied on open: the
projection then builds it again from zero, as the tables are only ever built from the log.
Rows go in through DuckDB's scan of NumPy arrays, one ``INSERT ... SELECT`` per table: row by
row ``executemany`` is three orders of magnitude slower.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from readmodels.analytics.batch import AnalyticsBatch, BookFacts, FixtureFacts, Row
from readmodels.analytics.schemas import analytics_table, analytics_tables

log = logging.getLogger("sportcast.analytics")

_NUMPY_TYPES: dict[str, Any] = {
    "INT": np.int32,
    "LONG": np.int64,
    "DOUBLE": np.float64,
    "BOOLEAN": np.bool_,
}

_FIXTURE_COLUMNS = (
    ("fixture_id", "STRING"),
    ("sport", "STRING"),
    ("competition", "STRING"),
    ("season", "STRING"),
    ("kickoff_at", "LONG"),
    ("home_score", "INT"),
    ("away_score", "INT"),
    ("result_position", "LONG"),
    ("abandoned", "BOOLEAN"),
)
_BOOK_COLUMNS = (
    ("book_id", "STRING"),
    ("fixture_id", "STRING"),
    ("source", "STRING"),
    ("market", "STRING"),
)
_STATE_TABLES = ("analytics_positions", "analytics_fixtures", "analytics_odds_books")
_STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS {analytics_positions} (lane VARCHAR PRIMARY KEY, position BIGINT)",
    """CREATE TABLE IF NOT EXISTS {analytics_fixtures} (
        fixture_id VARCHAR PRIMARY KEY, sport VARCHAR, competition VARCHAR, season VARCHAR,
        kickoff_at BIGINT, home_score INTEGER, away_score INTEGER, result_position BIGINT,
        abandoned BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS {analytics_odds_books} (
        book_id VARCHAR PRIMARY KEY, fixture_id VARCHAR, source VARCHAR, market VARCHAR)""",
)
REBUILD_SUFFIX = "__rebuild"
"""A rebuild's tables are the live ones' names with this suffix, in the same file and schema:
DuckDB (2.0) can neither rename a schema nor move a table to another one, but renames a table
inside a transaction (docs/adr/0035)."""


def _table_names() -> tuple[str, ...]:
    return (*(t.name for t in analytics_tables()), *_STATE_TABLES)


class AnalyticsTables:
    """One set of the analytics tables and of the projection's own (positions, kept facts) in
    the store's file: the live set, or a rebuild's (every name + ``REBUILD_SUFFIX``). Written
    only from the projection's thread; positions may be asked from any."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, lock: threading.Lock, suffix: str = ""
    ) -> None:
        self._con = con
        self._lock = lock
        self.suffix = suffix

    def name(self, table: str) -> str:
        return f'"{table}{self.suffix}"'

    def create(self) -> None:
        for table in analytics_tables():
            self._con.execute(table.duckdb_ddl(table.name + self.suffix))
        names = {table: self.name(table) for table in _STATE_TABLES}
        for ddl in _STATE_DDL:
            self._con.execute(ddl.format(**names))

    def drop(self) -> None:
        for table in _table_names():
            self._con.execute(f"DROP TABLE IF EXISTS {self.name(table)}")

    # -- what the projection resumes from -------------------------------------------------

    def positions(self) -> dict[str, int]:
        with self._con.cursor() as con:  # also asked from other threads (status, waits)
            rows = con.execute(
                f"SELECT lane, position FROM {self.name('analytics_positions')}"
            ).fetchall()
        return {str(lane): int(position) for lane, position in rows}

    def fixtures(self) -> list[FixtureFacts]:
        rows = self._con.execute(
            "SELECT fixture_id, sport, competition, season, kickoff_at, home_score, away_score,"
            f" result_position, abandoned FROM {self.name('analytics_fixtures')}"
        ).fetchall()
        return [FixtureFacts(*row) for row in rows]

    def books(self) -> list[BookFacts]:
        rows = self._con.execute(
            f"SELECT book_id, fixture_id, source, market FROM {self.name('analytics_odds_books')}"
        ).fetchall()
        return [BookFacts(*row) for row in rows]

    def forecast_rows(self, fixture_ids: list[str] | None = None) -> list[Row]:
        """Stored forecast rows (one per outcome), of these fixtures or of all."""
        sql = f"SELECT * FROM {self.name('forecasts')}"
        params: list[Any] = []
        if fixture_ids is not None:
            if not fixture_ids:
                return []
            sql += " WHERE fixture_id IN (SELECT UNNEST(?))"
            params.append(fixture_ids)
        cursor = self._con.execute(sql + " ORDER BY notification_id, outcome", params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # -- the one write --------------------------------------------------------------------

    def write(self, batch: AnalyticsBatch) -> None:
        """Everything in ``batch`` in one transaction."""
        with self._lock, _transaction(self._con):
            for table in analytics_tables():
                rows = batch.table_rows(table.name)
                if rows:
                    verb = "INSERT OR REPLACE" if table.upsert else "INSERT"
                    values = [[row[name] for name in table.column_names] for row in rows]
                    self._insert(verb, table.name, table.columns, values)
            if batch.fixtures:
                fixtures = [list(astuple(f)) for f in batch.fixtures.values()]
                self._insert("INSERT OR REPLACE", "analytics_fixtures", _FIXTURE_COLUMNS, fixtures)
            if batch.books:
                books = [list(astuple(b)) for b in batch.books.values()]
                self._insert("INSERT OR REPLACE", "analytics_odds_books", _BOOK_COLUMNS, books)
            for lane, position in batch.positions.items():
                self._con.execute(
                    f"INSERT OR REPLACE INTO {self.name('analytics_positions')} VALUES (?, ?)",
                    [lane, position],
                )

    def _insert(
        self,
        verb: str,
        table: str,
        columns: tuple[tuple[str, str], ...],
        rows: list[list[Any]],
    ) -> None:
        """One ``INSERT ... SELECT`` from NumPy columns (DuckDB scans them without copying)."""
        arrays = {
            name: _array([row[i] for row in rows], kind) for i, (name, kind) in enumerate(columns)
        }
        names = ", ".join(f'"{name}"' for name, _ in columns)
        self._con.register("analytics_batch", arrays)
        try:
            self._con.execute(
                f"{verb} INTO {self.name(table)} ({names}) SELECT {names} FROM analytics_batch"
            )
        finally:
            self._con.unregister("analytics_batch")

    def count(self, table: str) -> int:
        analytics_table(table)  # only the known tables
        found = self._con.execute(f"SELECT COUNT(*) FROM {self.name(table)}").fetchone()
        return 0 if found is None else int(found[0])


class AnalyticsStore:
    """One DuckDB file; one writer (the projection), any number of readers via :meth:`reader`.

    ``live`` are the tables the dashboards read. A rebuild writes a second set beside them
    (:meth:`fresh`) while they keep serving, and :meth:`switch_in` puts it in their place in
    one transaction: a reader sees the old rows or the new, never a mix."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path)
        self._lock = threading.Lock()
        self.live = AnalyticsTables(self._con, self._lock)
        if self._outdated():
            log.warning("%s holds older analytics tables: emptied, to be built again", self.path)
            self.live.drop()
        AnalyticsTables(self._con, self._lock, REBUILD_SUFFIX).drop()  # one interrupted
        self.live.create()

    def _outdated(self) -> bool:
        """Whether some analytics table exists with other columns than its schema's."""
        for table in analytics_tables():
            found = self._con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                " ORDER BY ordinal_position",
                [table.name],
            ).fetchall()
            if found and tuple(c for (c,) in found) != table.column_names:
                return True
        return False

    def close(self) -> None:
        self._con.close()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one reading thread (DuckDB connections are not shared)."""
        return self._con.cursor()

    # -- a rebuild beside the live tables -------------------------------------------------

    def fresh(self) -> AnalyticsTables:
        """Empty tables for a rebuild from zero (those of an earlier one dropped first)."""
        tables = AnalyticsTables(self._con, self._lock, REBUILD_SUFFIX)
        with self._lock:
            tables.drop()
            tables.create()
        return tables

    def switch_in(self, rebuilt: AnalyticsTables) -> None:
        """One transaction drops the live tables and renames the rebuilt ones into their
        place; ``rebuilt`` then names the live tables."""
        with self._lock, _transaction(self._con):
            for table in _table_names():
                self._con.execute(f'DROP TABLE "{table}"')
                self._con.execute(f'ALTER TABLE "{table}{rebuilt.suffix}" RENAME TO "{table}"')
        rebuilt.suffix = ""
        self.live = rebuilt

    def discard(self, rebuilt: AnalyticsTables) -> None:
        with self._lock:
            rebuilt.drop()

    # -- the live tables ------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        return self.live.positions()

    def fixtures(self) -> list[FixtureFacts]:
        return self.live.fixtures()

    def books(self) -> list[BookFacts]:
        return self.live.books()

    def forecast_rows(self, fixture_ids: list[str] | None = None) -> list[Row]:
        return self.live.forecast_rows(fixture_ids)

    def write(self, batch: AnalyticsBatch) -> None:
        self.live.write(batch)

    def count(self, table: str) -> int:
        return self.live.count(table)


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _array(values: list[Any], kind: str) -> np.ndarray[Any, Any]:
    dtype = _NUMPY_TYPES.get(kind)
    if dtype is not None and all(v is not None for v in values):
        return np.array(values, dtype=dtype)
    return np.array(values, dtype=object)
