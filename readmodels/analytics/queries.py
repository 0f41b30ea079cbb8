"""The dashboard queries, written once for both analytics engines (docs/adr/0005).

Production answers them from Apache Pinot (through ``pinotdb``), the embedded stack from DuckDB.
Each SQL string therefore stays inside what both accept:

- one table per query: no joins, subqueries, CTEs or window functions (Pinot's single-stage engine);
- plain aggregates (COUNT, SUM, AVG, MIN, MAX), FLOOR, CAST, arithmetic; no engine-specific time
  functions: hour and day buckets are computed from epoch milliseconds with FLOOR;
- GROUP BY and ORDER BY repeat expressions instead of referring to select-list aliases;
- every query ends in an explicit LIMIT, because Pinot silently returns only 10 rows without one;
- parameters are named in ``pinotdb``'s paramstyle, ``%(name)s``; :attr:`DashboardQuery.duckdb_sql`
  rewrites them to DuckDB's ``$name``. A literal ``%`` is therefore not allowed in the SQL.

Times are epoch milliseconds (``issued_at``, ``quoted_at``), as in the Pinot schemas under
``readmodels/analytics/pinot/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"%\((?P<name>[a-z_][a-z0-9_]*)\)s")

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
PERIOD_MS = 28 * DAY_MS
"""The time bucket of the track record over time: four weeks."""


@dataclass(frozen=True, slots=True)
class DashboardQuery:
    """A named dashboard query: ``sql`` takes exactly the named parameters in ``params``."""

    name: str
    title: str
    sql: str
    params: tuple[str, ...]

    def placeholders(self) -> frozenset[str]:
        """The parameter names the SQL text actually uses."""
        return frozenset(match["name"] for match in _PLACEHOLDER.finditer(self.sql))

    @property
    def duckdb_sql(self) -> str:
        """The same SQL with DuckDB's named parameters (``$name``)."""
        return _PLACEHOLDER.sub(lambda match: f"${match['name']}", self.sql)


FORECASTS_PER_HOUR = DashboardQuery(
    name="forecasts_per_hour",
    title="Forecasts issued per hour, by competition",
    sql=f"""
SELECT competition,
       CAST(FLOOR(issued_at / {HOUR_MS}) * {HOUR_MS} AS BIGINT) AS hour_start,
       COUNT(*) AS forecasts
FROM forecasts
WHERE issued_at >= %(since)s AND issued_at < %(until)s
GROUP BY competition, CAST(FLOOR(issued_at / {HOUR_MS}) * {HOUR_MS} AS BIGINT)
ORDER BY CAST(FLOOR(issued_at / {HOUR_MS}) * {HOUR_MS} AS BIGINT), competition
LIMIT 10000
""",
    params=("since", "until"),
)

MEAN_EDGE_BY_MODEL = DashboardQuery(
    name="mean_edge_by_model",
    title="Average edge by model and competition",
    sql="""
SELECT model_id,
       model_version,
       competition,
       COUNT(*) AS forecasts,
       AVG(edge) AS mean_edge,
       MIN(edge) AS min_edge,
       MAX(edge) AS max_edge
FROM forecasts
WHERE issued_at >= %(since)s AND issued_at < %(until)s
GROUP BY model_id, model_version, competition
ORDER BY AVG(edge) DESC, model_id, model_version, competition
LIMIT 1000
""",
    params=("since", "until"),
)

MODEL_VS_MARKET_BY_DAY = DashboardQuery(
    name="model_vs_market_by_day",
    title="Mean model and market probability per competition and day",
    sql=f"""
SELECT competition,
       CAST(FLOOR(issued_at / {DAY_MS}) * {DAY_MS} AS BIGINT) AS day_start,
       COUNT(*) AS forecasts,
       AVG(model_probability) AS mean_model_probability,
       AVG(market_probability) AS mean_market_probability
FROM forecasts
WHERE issued_at >= %(since)s AND issued_at < %(until)s
GROUP BY competition, CAST(FLOOR(issued_at / {DAY_MS}) * {DAY_MS} AS BIGINT)
ORDER BY CAST(FLOOR(issued_at / {DAY_MS}) * {DAY_MS} AS BIGINT), competition
LIMIT 10000
""",
    params=("since", "until"),
)

ODDS_MOVEMENT = DashboardQuery(
    name="odds_movement",
    title="Latest odds movement of one fixture, newest first",
    sql="""
SELECT quoted_at,
       source,
       market,
       outcome,
       decimal_price,
       implied_probability,
       overround
FROM odds_quotes
WHERE fixture_id = %(fixture_id)s AND quoted_at >= %(since)s
ORDER BY quoted_at DESC, source, market, outcome
LIMIT 500
""",
    params=("fixture_id", "since"),
)

PRICE_RANGE_BY_FIXTURE = DashboardQuery(
    name="price_range_by_fixture",
    title="Price range and last quote time per fixture, market and outcome, in a window",
    sql="""
SELECT fixture_id,
       market,
       outcome,
       COUNT(*) AS quotes,
       MIN(decimal_price) AS min_price,
       MAX(decimal_price) AS max_price,
       MAX(quoted_at) AS last_quoted_at
FROM odds_quotes
WHERE competition = %(competition)s AND quoted_at >= %(since)s AND quoted_at < %(until)s
GROUP BY fixture_id, market, outcome
ORDER BY MAX(quoted_at) DESC, fixture_id, market, outcome
LIMIT 1000
""",
    params=("competition", "since", "until"),
)

MEAN_OVERROUND_BY_SOURCE = DashboardQuery(
    name="mean_overround_by_source",
    title="Average bookmaker overround by source and competition",
    sql="""
SELECT source,
       competition,
       COUNT(*) AS quotes,
       AVG(overround) AS mean_overround
FROM odds_quotes
WHERE quoted_at >= %(since)s AND quoted_at < %(until)s
GROUP BY source, competition
ORDER BY AVG(overround), source, competition
LIMIT 1000
""",
    params=("since", "until"),
)

# ---- issue 18's pages: live board, edge board, fixture page, model page, feed health -------

LIVE_BOARD = DashboardQuery(
    name="live_board",
    title="Latest forecast per fixture, model kind and outcome, model beside market, by kick-off",
    sql="""
SELECT fixture_id,
       sport,
       competition,
       market,
       outcome,
       model_kind,
       model_id,
       "trigger",
       model_probability,
       market_probability,
       edge,
       kickoff_at,
       issued_at
FROM forecasts_latest
WHERE kickoff_at >= %(since)s AND kickoff_at < %(until)s
ORDER BY kickoff_at, fixture_id, model_kind, outcome
LIMIT 3000
""",
    params=("since", "until"),
)

EDGE_BOARD = DashboardQuery(
    name="edge_board",
    title="Largest model-minus-market differences now, in one market",
    sql="""
SELECT fixture_id,
       sport,
       competition,
       outcome,
       model_kind,
       model_id,
       model_probability,
       market_probability,
       edge,
       kickoff_at
FROM forecasts_latest
WHERE market = %(market)s AND kickoff_at >= %(since)s
ORDER BY ABS(edge) DESC, fixture_id, model_kind, outcome
LIMIT 50
""",
    params=("market", "since"),
)

FORECAST_HISTORY = DashboardQuery(
    name="forecast_history",
    title="Every forecast of one fixture, oldest first",
    sql="""
SELECT notification_id,
       issued_at,
       model_id,
       "trigger",
       market,
       outcome,
       model_probability,
       market_probability,
       edge
FROM forecasts
WHERE fixture_id = %(fixture_id)s
ORDER BY notification_id, market, outcome
LIMIT 5000
""",
    params=("fixture_id",),
)


def _calibration(name: str, title: str, probability: str, bucket: str) -> DashboardQuery:
    """Predicted against observed frequency per 10% bucket of ``probability`` (model or market)
    on one model's settled forecasts. The bucket is stored with each row
    (``domain.scoring.calibration_bucket``: a probability of 1 is in bucket 9), so every
    engine and the PostgreSQL track record bin alike; a market-free forecast's market bucket
    is NULL and left out."""
    return DashboardQuery(
        name=name,
        title=title,
        sql=f"""
SELECT {bucket} AS bucket,
       COUNT(*) AS outcomes,
       AVG({probability}) AS mean_predicted,
       AVG(observed) AS observed_rate
FROM settled_outcomes
WHERE model_id = %(model_id)s AND market = %(market)s AND {bucket} IS NOT NULL
GROUP BY {bucket}
ORDER BY {bucket}
LIMIT 100
""",
        params=("model_id", "market"),
    )


CALIBRATION = _calibration(
    "calibration",
    "Calibration: predicted against observed frequency per 10% bucket, one model",
    "model_probability",
    "model_bucket",
)
MARKET_CALIBRATION = _calibration(
    "market_calibration",
    "The market's calibration on the same settled forecasts",
    "market_probability",
    "market_bucket",
)

RPS_BY_COMPETITION_OVER_TIME = DashboardQuery(
    name="rps_by_competition_over_time",
    title="Mean RPS per competition and four-week period of kick-off, model and market",
    sql=f"""
SELECT sport,
       competition,
       CAST(FLOOR(kickoff_at / {PERIOD_MS}) * {PERIOD_MS} AS BIGINT) AS period_start,
       COUNT(*) AS forecasts,
       AVG(rps) AS mean_rps,
       AVG(market_rps) AS mean_market_rps
FROM settlements
WHERE model_id = %(model_id)s
GROUP BY sport, competition, CAST(FLOOR(kickoff_at / {PERIOD_MS}) * {PERIOD_MS} AS BIGINT)
ORDER BY CAST(FLOOR(kickoff_at / {PERIOD_MS}) * {PERIOD_MS} AS BIGINT), competition
LIMIT 10000
""",
    params=("model_id",),
)

TRACK_RECORD = DashboardQuery(
    name="track_record",
    title="Public track record per competition, season and track, the market beside it",
    sql="""
SELECT sport,
       competition,
       season,
       track,
       COUNT(*) AS forecasts,
       AVG(rps) AS mean_rps,
       AVG(market_rps) AS mean_market_rps,
       AVG(log_loss) AS mean_log_loss,
       AVG(market_log_loss) AS mean_market_log_loss,
       AVG(brier) AS mean_brier,
       AVG(market_brier) AS mean_market_brier
FROM settlements
WHERE model_id = %(model_id)s
GROUP BY sport, competition, season, track
ORDER BY competition, season, track
LIMIT 10000
""",
    params=("model_id",),
)

FEED_FRESHNESS = DashboardQuery(
    name="feed_freshness",
    title="Last quote per source and competition (staleness is now minus last_quoted_at)",
    sql="""
SELECT source,
       sport,
       competition,
       COUNT(*) AS quotes,
       MAX(quoted_at) AS last_quoted_at
FROM odds_quotes
WHERE quoted_at >= %(since)s
GROUP BY source, sport, competition
ORDER BY MAX(quoted_at), source, competition
LIMIT 1000
""",
    params=("since",),
)

MODELS = DashboardQuery(
    name="models",
    title="Every model that issued forecasts, per market, most recent first",
    sql="""
SELECT model_id,
       market,
       COUNT(*) AS forecast_outcomes,
       MAX(issued_at) AS last_issued_at
FROM forecasts
WHERE issued_at >= %(since)s
GROUP BY model_id, market
ORDER BY MAX(issued_at) DESC, model_id, market
LIMIT 200
""",
    params=("since",),
)

DASHBOARD_QUERIES: tuple[DashboardQuery, ...] = (
    FORECASTS_PER_HOUR,
    MEAN_EDGE_BY_MODEL,
    MODEL_VS_MARKET_BY_DAY,
    ODDS_MOVEMENT,
    PRICE_RANGE_BY_FIXTURE,
    MEAN_OVERROUND_BY_SOURCE,
    LIVE_BOARD,
    EDGE_BOARD,
    FORECAST_HISTORY,
    CALIBRATION,
    MARKET_CALIBRATION,
    RPS_BY_COMPETITION_OVER_TIME,
    TRACK_RECORD,
    FEED_FRESHNESS,
    MODELS,
)


def dashboard_query(name: str) -> DashboardQuery:
    """The dashboard query called ``name``; ``KeyError`` names the known ones otherwise."""
    for query in DASHBOARD_QUERIES:
        if query.name == name:
            return query
    known = ", ".join(query.name for query in DASHBOARD_QUERIES)
    raise KeyError(f"no dashboard query {name!r}; known: {known}")
