"""A DuckDB file written for older analytics columns is emptied on open and built again from
zero (its positions go with its rows), rather than failing on the first insert."""

from __future__ import annotations

from pathlib import Path

import duckdb

from readmodels.analytics.schemas import analytics_table
from readmodels.analytics.store import AnalyticsStore


def test_a_file_with_older_columns_is_emptied_with_its_positions(tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    old = duckdb.connect(str(path))
    old.execute('CREATE TABLE "forecasts_latest" (fixture_id VARCHAR, market VARCHAR)')
    old.execute("CREATE TABLE analytics_positions (lane VARCHAR PRIMARY KEY, position BIGINT)")
    old.execute("INSERT INTO analytics_positions VALUES ('feeds', 4711)")
    old.close()
    store = AnalyticsStore(path)
    try:
        assert store.positions() == {}
        columns = store.reader().execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'forecasts_latest' ORDER BY ordinal_position"
        )
        assert tuple(c for (c,) in columns.fetchall()) == (
            analytics_table("forecasts_latest").column_names
        )
    finally:
        store.close()


def test_a_current_file_keeps_its_positions(tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    store = AnalyticsStore(path)
    store.reader().execute("INSERT INTO analytics_positions VALUES ('feeds', 12)")
    store.close()
    again = AnalyticsStore(path)
    try:
        assert again.positions() == {"feeds": 12}
    finally:
        again.close()
