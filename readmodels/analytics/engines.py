"""One interface for the dashboard queries, two engines behind it (docs/adr/0005).

``DuckDBEngine`` answers from the embedded DuckDB file, ``PinotEngine`` from a Pinot broker
through ``pinotdb``. Both return the same thing: a list of rows, each a dict from the query's
select-list names to Python values (int for Pinot's INT/LONG, float for FLOAT/DOUBLE), so a
caller cannot tell which engine answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import duckdb
import pinotdb

from readmodels.analytics.queries import DashboardQuery

Answer = list[dict[str, Any]]

_PINOT_NUMBERS: dict[str, Callable[[Any], Any]] = {
    "INT": int,
    "LONG": int,
    "FLOAT": float,
    "DOUBLE": float,
    "BIG_DECIMAL": float,
}


class DashboardQueryError(Exception):
    """A dashboard query asked with the wrong parameters, or refused by the engine."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AnalyticsEngine(Protocol):
    name: str

    def run(self, query: DashboardQuery, params: Mapping[str, Any]) -> Answer: ...


def check_params(query: DashboardQuery, params: Mapping[str, Any]) -> None:
    missing = sorted(set(query.params) - params.keys())
    unknown = sorted(params.keys() - set(query.params))
    if missing or unknown:
        raise DashboardQueryError(
            "dashboard-query-params",
            f"{query.name} takes {', '.join(query.params)}; missing {missing}, unknown {unknown}",
        )


class DuckDBEngine:
    """Reads through one DuckDB connection per calling thread (``connect`` makes them)."""

    name = "duckdb"

    def __init__(
        self, connect: Callable[[], duckdb.DuckDBPyConnection], *, threads: int | None = None
    ) -> None:
        """``threads``: DuckDB worker threads per query (None: DuckDB's default, one per core).
        On a shared 2-core box one thread per query gave the lower p95 (benchmark notes)."""
        self._connect = connect
        self._threads = threads
        self._local = threading.local()

    def run(self, query: DashboardQuery, params: Mapping[str, Any]) -> Answer:
        check_params(query, params)
        con: duckdb.DuckDBPyConnection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
            if self._threads is not None:
                con.execute(f"SET threads = {int(self._threads)}")
        try:
            cursor = con.execute(query.duckdb_sql, dict(params))
        except duckdb.Error as exc:
            raise DashboardQueryError("dashboard-query-failed", f"{query.name}: {exc}") from exc
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PinotEngine:
    """Asks a Pinot broker's ``/query/sql`` (single-stage engine) through ``pinotdb``."""

    name = "pinot"

    def __init__(
        self,
        broker_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        url = urlsplit(broker_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"a Pinot broker URL is http(s)://host:port, got {broker_url!r}")
        self._connection = pinotdb.connect(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8099),
            scheme=url.scheme,
            path="/query/sql",
            username=username,
            password=password,
            timeout=timeout,
        )

    def run(self, query: DashboardQuery, params: Mapping[str, Any]) -> Answer:
        check_params(query, params)
        cursor = self._connection.cursor()
        try:
            cursor.execute(query.sql, dict(params))
        except pinotdb.exceptions.Error as exc:
            raise DashboardQueryError("dashboard-query-failed", f"{query.name}: {exc}") from exc
        schema = cursor.schema or []
        names = [column["name"] for column in schema]
        casts = [_PINOT_NUMBERS.get(str(column["type"])) for column in schema]
        return [
            {
                name: value if cast is None or value is None else cast(value)
                for name, cast, value in zip(names, casts, row, strict=True)
            }
            for row in cursor.fetchall()
        ]

    def close(self) -> None:
        self._connection.close()
