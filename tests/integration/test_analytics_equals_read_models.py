"""On the same replay, the analytics tables (DuckDB) and the PostgreSQL read models agree:
row for row, and so every dashboard query answers alike on both (docs/read-models.md,
"One definition for both read sides").

A week of real football with the forecasts of a small real model is projected by both
projections. From the PostgreSQL read models (rm_fixtures, rm_odds, rm_forecasts,
rm_track_record) the rows of each analytics table are derived in SQL; they must equal the
DuckDB tables (ids aside: PostgreSQL keys forecasts and quotes by stream position). Then the
15 dashboard queries run, unchanged, on both: DuckDB over its tables, PostgreSQL over those
derived rows. Last, the public API's own track record and calibration queries must give the
dashboard's numbers.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from eventsourcing.utils import get_topic

from commands.fixture import CorrectResult
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.odds import Market
from domain.provenance import Provenance
from domain.score import Score
from infra.bootstrap import analytics_service
from infra.embedded.nats import EmbeddedNats
from infra.embedded.postgres import EmbeddedPostgres
from infra.settings import Settings
from readmodels.analytics.engines import DuckDBEngine
from readmodels.analytics.queries import DASHBOARD_QUERIES, DashboardQuery
from readmodels.analytics.schemas import TABLE_NAMES, analytics_table
from readmodels.analytics.store import AnalyticsStore
from readmodels.postgres import queries
from tests.conftest import fresh_database
from tests.football_month import DATA, week_with_forecasts
from tests.projecting import project

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]

IDS = {"forecast_id", "quote_id"}
"""Made from aggregate ids the PostgreSQL read models do not keep: left out of the comparison."""


def ms(column: str) -> str:
    return f"floor(extract(epoch FROM {column}) * 1000)::bigint"


def forecast_rows(table: str) -> str:
    """One row per outcome of the forecasts in ``table`` of rm_forecasts."""
    return f"""
SELECT f.fixture_id::text AS fixture_id, x.sport, x.competition, x.season, f.market,
       f.model_id, f.model_kind, f.artifact_hash AS model_version, u.outcome, f.trigger,
       f.position AS notification_id, u.p AS model_probability, u.q AS market_probability,
       u.e AS edge, {ms("f.issued_at")} AS issued_at, {ms("f.kickoff")} AS kickoff_at
FROM rm_forecasts.{table} f JOIN rm_fixtures.fixtures x USING (fixture_id),
     unnest(f.outcomes, f.probabilities, f.market_probabilities, f.edge) AS u(outcome, p, q, e)
"""


# Each analytics table's rows, derived from the PostgreSQL read models.
FROM_READ_MODELS = {
    "forecasts": forecast_rows("forecasts"),
    "forecasts_latest": forecast_rows("latest_forecasts"),
    "odds_quotes": f"""
SELECT h.fixture_id::text AS fixture_id, x.sport, x.competition, b.source, b.market,
       o.outcome, u.price AS decimal_price, u.p AS implied_probability,
       h.overround, h.margin_method, {ms("h.quoted_at")} AS quoted_at
FROM rm_odds.odds_history h
JOIN rm_odds.odds_latest b USING (book_id)
JOIN rm_fixtures.fixtures x ON x.fixture_id = h.fixture_id
CROSS JOIN LATERAL unnest(h.decimal_prices, h.probabilities) WITH ORDINALITY AS u(price, p, i)
JOIN market_outcomes o ON o.market = b.market AND o.i = u.i
""",
    "settlements": f"""
SELECT s.fixture_id::text AS fixture_id, x.sport, x.competition, x.season, f.market,
       s.model_id, s.model_kind, f.artifact_hash AS model_version, s.trigger, s.track,
       s.outcomes[s.outcome + 1] AS observed, s.result_position, s.rps, s.log_loss, s.brier,
       s.market_rps, s.market_log_loss, s.market_brier, {ms("f.kickoff")} AS kickoff_at,
       {ms("f.issued_at")} AS issued_at
FROM rm_track_record.settled_forecasts s
JOIN rm_track_record.fixtures x USING (fixture_id)
JOIN rm_forecasts.forecasts f USING (position)
WHERE s.outcome IS NOT NULL
""",
    "settled_outcomes": f"""
SELECT s.fixture_id::text AS fixture_id, x.sport, x.competition, x.season, f.market,
       s.model_id, s.model_kind, s.trigger, s.track, u.outcome, s.result_position,
       u.p AS model_probability, u.q AS market_probability,
       (u.i - 1 = s.outcome)::int AS observed,
       least(floor(u.p * 10)::int, 9) AS model_bucket,
       least(floor(u.q * 10)::int, 9) AS market_bucket,
       {ms("f.kickoff")} AS kickoff_at
FROM rm_track_record.settled_forecasts s
JOIN rm_track_record.fixtures x USING (fixture_id)
JOIN rm_forecasts.forecasts f USING (position),
     unnest(s.outcomes, s.probabilities, s.market_probabilities)
         WITH ORDINALITY AS u(outcome, p, q, i)
WHERE s.outcome IS NOT NULL
""",
}


def market_outcomes() -> str:
    pairs = [(str(m), str(o), i + 1) for m in Market for i, o in enumerate(m.outcomes)]
    values = ", ".join(f"('{m}', '{o}', {i})" for m, o, i in pairs)
    return f"market_outcomes (market, outcome, i) AS (VALUES {values})"


def with_read_models(sql: str) -> str:
    """``sql`` (one or more analytics tables by name) over the rows the read models give."""
    derived = ", ".join(f"{name} AS ({FROM_READ_MODELS[name]})" for name in TABLE_NAMES)
    return f"WITH {market_outcomes()}, {derived} {sql}"


def postgres_sql(query: DashboardQuery, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """The dashboard SQL with PostgreSQL's positional parameters."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match["name"] not in order:
            order.append(match["name"])
        return f"${order.index(match['name']) + 1}"

    sql = re.sub(r"%\((?P<name>[a-z_][a-z0-9_]*)\)s", number, query.sql)
    return sql, [params[name] for name in order]


def normal(value: Any) -> Any:
    """Numbers as floats rounded to 9 significant digits (sums in another order, numeric vs
    double), so rows compare exactly and sort the same."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    number = float(value)
    if number == int(number) and abs(number) < 2**53:
        return int(number)
    return float(f"{number:.9g}")


def rows_of(records: list[dict[str, Any]], drop: set[str] = IDS) -> list[tuple[Any, ...]]:
    return [tuple((k, normal(v)) for k, v in r.items() if k not in drop) for r in records]


CORRECTED = 3
"""Finished fixtures whose result is then corrected: their forecasts are scored again."""


@pytest.fixture(scope="module")
def replay(nats_server: EmbeddedNats) -> dict[str, str]:
    """A week of real football and the forecasts of a small real model over it; then the
    results of a few finished fixtures are corrected (both sides must score them again)."""
    replayed = week_with_forecasts(nats_server.url)
    app = FeedIngestion({k: v for k, v in replayed.items() if k != "FORECASTS"})
    try:
        finished = app.recorder.select_notifications(
            start=1, limit=1_000_000, topics=[get_topic(Fixture.Finished)]
        )
        seen = Provenance(source="test", received_at=datetime.now(UTC))  # the replay's source
        for n in finished[:CORRECTED]:
            fixture_id = UUID(str(n.originator_id))
            fixture: Fixture = app.repository.get(fixture_id)
            result = fixture.result
            assert result is not None
            app.handle(
                CorrectResult(
                    idempotency_key=f"correct-{fixture_id}",
                    provenance=seen,
                    fixture_id=fixture_id,
                    score=Score(result.home + 1, result.away),  # a draw becomes a home win
                    reason="test",
                )
            )
    finally:
        app.close()
    return replayed


@pytest.fixture(scope="module")
def both(
    replay: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: EmbeddedPostgres,
) -> Iterator[tuple[AnalyticsStore, str]]:
    """Both read sides built from the replay: a DuckDB file and a PostgreSQL database."""
    with fresh_database(postgres_server) as postgres_url:
        yield from _build_both(replay, tmp_path_factory, postgres_url)


def _build_both(
    replay: dict[str, str], tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[AnalyticsStore, str]]:
    env = {k: v for k, v in replay.items() if k != "FORECASTS"}
    streams = {"events": env, "forecasts": {**env, "NATS_STREAM": replay["FORECASTS"]}}
    project(streams, postgres_url, ["fixtures", "odds", "forecasts", "track_record"])
    path = tmp_path_factory.mktemp("analytics") / "analytics.duckdb"
    settings = Settings(
        nats_url=replay["NATS_URL"],
        stream_name=replay["NATS_STREAM"],
        forecaster_stream=replay["FORECASTS"],
        state_dir=path.parent,
    )
    service = analytics_service(settings, replay["NATS_URL"], path=path)
    try:
        service.runner.catch_up()
    finally:
        service.close()
    store = AnalyticsStore(path)
    try:
        yield store, postgres_url
    finally:
        store.close()


def fetch(postgres_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(main())


def duckdb_rows(
    store: AnalyticsStore, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    cursor = store.reader().execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_analytics_row_is_a_row_of_the_read_models(
    both: tuple[AnalyticsStore, str], table: str
) -> None:
    store, postgres_url = both
    columns = [c for c in analytics_table(table).column_names if c not in IDS]
    select = ", ".join(f'"{c}"' for c in columns)
    analytics = sorted(rows_of(duckdb_rows(store, f'SELECT {select} FROM "{table}"')))
    derived = sorted(
        rows_of(fetch(postgres_url, with_read_models(f"SELECT {select} FROM {table}")))
    )
    assert len(analytics) > 20, f"{table}: too few rows to show anything"
    assert analytics == derived


def test_corrected_results_are_scored_again_alike(both: tuple[AnalyticsStore, str]) -> None:
    store, postgres_url = both
    corrected = fetch(
        postgres_url,
        "SELECT fixture_id::text, position FROM rm_track_record.results WHERE corrections > 0",
    )
    assert len(corrected) == CORRECTED
    for row in corrected:
        positions = duckdb_rows(
            store,
            "SELECT DISTINCT result_position FROM settlements WHERE fixture_id = $f",
            {"f": row["fixture_id"]},
        )
        # Settled on the correction (if the model forecast the fixture at all), not the result.
        assert positions in ([], [{"result_position": row["position"]}])
    assert any(
        duckdb_rows(
            store, "SELECT 1 FROM settlements WHERE fixture_id = $f", {"f": r["fixture_id"]}
        )
        for r in corrected
    ), "no corrected fixture had a forecast: nothing was scored again"


def sample_params(store: AnalyticsStore) -> dict[str, Any]:
    """Parameters that select data: the busiest fixture, model, competition; every time."""
    con = store.reader()

    def top(sql: str) -> Any:
        found = con.execute(sql).fetchone()
        assert found is not None
        return found[0]

    return {
        "since": 0,
        "until": 1 << 60,
        "fixture_id": top(
            "SELECT fixture_id FROM forecasts GROUP BY fixture_id ORDER BY COUNT(*) DESC,"
            " fixture_id LIMIT 1"
        ),
        "model_id": top(
            "SELECT model_id FROM settlements GROUP BY model_id ORDER BY COUNT(*) DESC LIMIT 1"
        ),
        "competition": top(
            "SELECT competition FROM odds_quotes GROUP BY competition ORDER BY COUNT(*) DESC,"
            " competition LIMIT 1"
        ),
        "market": "1x2",
    }


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=lambda q: q.name)
def test_each_dashboard_query_answers_alike_on_both(
    both: tuple[AnalyticsStore, str], query: DashboardQuery
) -> None:
    store, postgres_url = both
    params = {k: v for k, v in sample_params(store).items() if k in query.params}
    on_duckdb = DuckDBEngine(store.reader).run(query, params)
    sql, args = postgres_sql(query, params)
    on_postgres = fetch(postgres_url, with_read_models(sql), *args)
    assert on_duckdb, f"{query.name}: no rows, nothing compared"
    # In the query's own order, but rows tied on every ORDER BY key may come in either order.
    assert sorted(rows_of(on_duckdb, set())) == sorted(rows_of(on_postgres, set()))
    assert len(on_duckdb) == len(on_postgres)


def test_the_public_track_record_gives_the_dashboards_numbers(
    both: tuple[AnalyticsStore, str],
) -> None:
    store, postgres_url = both
    model_id = sample_params(store)["model_id"]
    dashboard = DuckDBEngine(store.reader).run(
        next(q for q in DASHBOARD_QUERIES if q.name == "track_record"), {"model_id": model_id}
    )

    async def api() -> tuple[list[Any], list[Any], list[Any]]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return (
                await queries.track_record(conn, model_id=model_id),
                await queries.calibration(conn, model_id=model_id),
                await queries.calibration(conn, model_id=model_id, of_market=True),
            )
        finally:
            await conn.close()

    record, bins, market_bins = asyncio.run(api())
    assert sorted(
        (r["competition"], r["season"], r["track"], r["forecasts"], normal(r["mean_rps"]))
        for r in dashboard
    ) == sorted((r.competition, r.season, r.track, r.forecasts, normal(r.rps)) for r in record)
    for name, api_bins in (("calibration", bins), ("market_calibration", market_bins)):
        query = next(q for q in DASHBOARD_QUERIES if q.name == name)
        cal = DuckDBEngine(store.reader).run(query, {"model_id": model_id, "market": "1x2"})
        assert [(r["bucket"], r["outcomes"]) for r in cal] == [
            (round(b.low * 10), b.count) for b in api_bins
        ]
        for row, b in zip(cal, api_bins, strict=True):
            assert math.isclose(row["observed_rate"], b.observed_rate, rel_tol=1e-9)
            assert math.isclose(row["mean_predicted"], b.mean_predicted, rel_tol=1e-9)
