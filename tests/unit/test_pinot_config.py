"""Pinot schemas, REALTIME table configs and the dashboard queries, checked without Pinot.

Pinot cannot run on the machines that run these tests, so the configs are checked for what
Pinot itself would reject or silently get wrong (a time column that is not a DATE_TIME field, an
index on a missing column, an inverted index on a raw column, two flush thresholds), and every
dashboard query is parsed and run by DuckDB, the embedded engine, against tables built from the
Pinot schemas: DuckDB's binder fails on any column the schema does not have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from domain.scoring import calibration_bucket
from readmodels.analytics.queries import DASHBOARD_QUERIES, DashboardQuery, dashboard_query

ROOT = Path(__file__).resolve().parents[2]
PINOT_DIR = ROOT / "readmodels" / "analytics" / "pinot"
TABLE_NAMES = sorted(p.name.removesuffix(".table.json") for p in PINOT_DIR.glob("*.table.json"))

FIELD_SPEC_KINDS = ("dimensionFieldSpecs", "metricFieldSpecs", "dateTimeFieldSpecs")
PINOT_TYPES = {
    "INT": "INTEGER",
    "LONG": "BIGINT",
    "FLOAT": "REAL",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "STRING": "VARCHAR",
    "TIMESTAMP": "TIMESTAMP",
    "BYTES": "BLOB",
}
NUMERIC_TYPES = {"INT", "LONG", "FLOAT", "DOUBLE", "TIMESTAMP"}
EPOCH_MILLIS_FORMATS = {"1:MILLISECONDS:EPOCH", "EPOCH|MILLISECONDS", "EPOCH|MILLISECONDS|1"}
INDEX_LISTS = (
    "invertedIndexColumns",
    "rangeIndexColumns",
    "sortedColumn",
    "bloomFilterColumns",
    "noDictionaryColumns",
    "onHeapDictionaryColumns",
    "varLengthDictionaryColumns",
    "jsonIndexColumns",
)
KAFKA_CONSUMER_FACTORIES = {
    "org.apache.pinot.plugin.stream.kafka30.KafkaConsumerFactory",
    "org.apache.pinot.plugin.stream.kafka40.KafkaConsumerFactory",
}
JSON_DECODERS = {
    "org.apache.pinot.plugin.inputformat.json.JSONMessageDecoder",
    "org.apache.pinot.plugin.stream.kafka.KafkaJSONMessageDecoder",
}

# The rows the analytics sink writes: one per ForecastIssued, one per quoted outcome.
FORECAST_COLUMNS = {
    "forecast_id": "STRING",
    "fixture_id": "STRING",
    "sport": "STRING",
    "competition": "STRING",
    "season": "STRING",
    "market": "STRING",
    "model_id": "STRING",
    "model_kind": "STRING",
    "model_version": "STRING",
    "outcome": "STRING",
    "model_probability": "DOUBLE",
    "market_probability": "DOUBLE",
    "edge": "DOUBLE",
    "trigger": "STRING",
    "issued_at": "LONG",
    "kickoff_at": "LONG",
    "notification_id": "LONG",
}
SETTLED_COLUMNS = {
    "forecast_id": "STRING",
    "fixture_id": "STRING",
    "sport": "STRING",
    "competition": "STRING",
    "season": "STRING",
    "market": "STRING",
    "model_id": "STRING",
    "model_kind": "STRING",
    "trigger": "STRING",
    "track": "STRING",
    "result_position": "LONG",
    "kickoff_at": "LONG",
}
EXPECTED_COLUMNS = {
    "forecasts": FORECAST_COLUMNS,
    "forecasts_latest": FORECAST_COLUMNS,
    "settlements": {
        **SETTLED_COLUMNS,
        "model_version": "STRING",
        "observed": "STRING",
        "rps": "DOUBLE",
        "log_loss": "DOUBLE",
        "brier": "DOUBLE",
        "market_rps": "DOUBLE",
        "market_log_loss": "DOUBLE",
        "market_brier": "DOUBLE",
        "issued_at": "LONG",
    },
    "settled_outcomes": {
        **SETTLED_COLUMNS,
        "outcome": "STRING",
        "model_probability": "DOUBLE",
        "market_probability": "DOUBLE",
        "observed": "INT",
        "model_bucket": "INT",
        "market_bucket": "INT",
    },
    "odds_quotes": {
        "quote_id": "STRING",
        "fixture_id": "STRING",
        "sport": "STRING",
        "competition": "STRING",
        "source": "STRING",
        "market": "STRING",
        "outcome": "STRING",
        "decimal_price": "DOUBLE",
        "implied_probability": "DOUBLE",
        "overround": "DOUBLE",
        "margin_method": "STRING",
        "quoted_at": "LONG",
    },
}

# What Pinot's single-stage engine and DuckDB both evaluate the same way (scalar operators are
# listed as DuckDB names them in its parse tree).
SHARED_FUNCTIONS = {"count_star", "count", "sum", "avg", "min", "max", "floor", "ceil", "abs"}
SHARED_OPERATORS = {"+", "-", "*", "/"}
# SQL reserved words that are plausible column names: such a column must be double-quoted.
RESERVED_WORDS = {
    "date", "day", "hour", "minute", "month", "order", "group", "time", "timestamp", "trigger",
    "user", "value", "year", "end", "start", "position", "result", "window", "range", "rows",
}  # fmt: skip

# Parameter values for running each dashboard query on the sample rows below.
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on an hour and a day boundary
HOUR = 3_600_000
DAY = 86_400_000
SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "forecasts_per_hour": {"since": T0, "until": T0 + DAY},
    "mean_edge_by_model": {"since": T0, "until": T0 + DAY},
    "model_vs_market_by_day": {"since": T0, "until": T0 + 3 * DAY},
    "odds_movement": {"fixture_id": "fx-1", "since": T0},
    "price_range_by_fixture": {"competition": "EPL", "since": T0, "until": T0 + DAY},
    "mean_overround_by_source": {"since": T0, "until": T0 + DAY},
    "live_board": {"since": T0, "until": T0 + 3 * DAY},
    "edge_board": {"market": "1x2", "since": T0},
    "forecast_history": {"fixture_id": "fx-1"},
    "calibration": {"model_id": "m1", "market": "1x2"},
    "market_calibration": {"model_id": "m1", "market": "1x2"},
    "rps_by_competition_over_time": {"model_id": "m1"},
    "track_record": {"model_id": "m1"},
    "feed_freshness": {"since": T0},
    "models": {"since": T0},
}


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


def schema(name: str) -> dict[str, Any]:
    return load_json(PINOT_DIR / f"{name}.schema.json")


def table_config(name: str) -> dict[str, Any]:
    return load_json(PINOT_DIR / f"{name}.table.json")


def field_specs(schema_doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in FIELD_SPEC_KINDS:
        for spec in schema_doc.get(kind, []):
            yield kind, spec


def column_types(name: str) -> dict[str, str]:
    return {spec["name"]: spec["dataType"] for _, spec in field_specs(schema(name))}


def stream_configs(config: dict[str, Any]) -> list[dict[str, str]]:
    """The Kafka stream config maps, wherever the table config keeps them (new or legacy key)."""
    new = config.get("ingestionConfig", {}).get("streamIngestionConfig", {})
    maps: list[dict[str, str]] = list(new.get("streamConfigMaps", []))
    legacy = config.get("tableIndexConfig", {}).get("streamConfigs")
    if legacy:
        maps.append(legacy)
    return maps


# ---- schemas and table configs --------------------------------------------------------------


def test_every_table_config_has_its_schema_and_nothing_else_lies_in_the_folder() -> None:
    files = {p.name for p in PINOT_DIR.iterdir() if p.is_file()}
    expected = {f"{t}.table.json" for t in TABLE_NAMES} | {f"{t}.schema.json" for t in TABLE_NAMES}
    assert TABLE_NAMES == [
        "forecasts",
        "forecasts_latest",
        "odds_quotes",
        "settled_outcomes",
        "settlements",
    ]
    assert files == expected


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_schema_declares_each_column_once_with_a_pinot_type(name: str) -> None:
    doc = schema(name)
    assert doc["schemaName"] == name
    names = [spec["name"] for _, spec in field_specs(doc)]
    assert len(names) == len(set(names)), f"duplicate columns in {name}: {names}"
    for kind, spec in field_specs(doc):
        assert spec["dataType"] in PINOT_TYPES, f"{name}.{spec['name']}: {spec['dataType']}"
        if kind == "metricFieldSpecs":
            assert spec["dataType"] in NUMERIC_TYPES, f"metric {spec['name']} is not numeric"
        if kind == "dateTimeFieldSpecs":
            assert spec.get("format"), spec
            assert spec.get("granularity"), spec


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_schema_has_exactly_the_columns_of_the_analytics_row(name: str) -> None:
    assert column_types(name) == EXPECTED_COLUMNS[name]


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_table_config_is_realtime_and_names_its_schema(name: str) -> None:
    config = table_config(name)
    assert config["tableName"] == name
    assert config["tableType"] == "REALTIME"
    assert config["segmentsConfig"]["schemaName"] == schema(name)["schemaName"]


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_time_column_is_an_epoch_millis_date_time_field(name: str) -> None:
    time_column = table_config(name)["segmentsConfig"]["timeColumnName"]
    date_time = {spec["name"]: spec for spec in schema(name).get("dateTimeFieldSpecs", [])}
    assert time_column in date_time, f"{time_column} is not a DATE_TIME field of {name}"
    spec = date_time[time_column]
    assert spec["dataType"] == "LONG"
    assert spec["format"] in EPOCH_MILLIS_FORMATS


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_every_indexed_column_exists_in_the_schema(name: str) -> None:
    columns = column_types(name)
    index_config = table_config(name)["tableIndexConfig"]
    indexed = {key: index_config.get(key, []) for key in INDEX_LISTS}
    indexed["fieldConfigList"] = [f["name"] for f in table_config(name).get("fieldConfigList", [])]
    for key, listed in indexed.items():
        missing = sorted(set(listed) - columns.keys())
        assert not missing, f"{name}: {key} names columns not in the schema: {missing}"
    assert any(indexed[key] for key in INDEX_LISTS), f"{name} has no index at all"


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_index_choices_are_ones_pinot_accepts(name: str) -> None:
    columns = column_types(name)
    index_config = table_config(name)["tableIndexConfig"]
    assert len(index_config.get("sortedColumn", [])) <= 1, "Pinot sorts on one column at most"
    raw = set(index_config.get("noDictionaryColumns", []))
    # Inverted indexes and bloom filters are built on dictionary ids.
    for key in ("invertedIndexColumns", "sortedColumn"):
        clash = raw & set(index_config.get(key, []))
        assert not clash, f"{name}: {key} on raw (noDictionary) columns {sorted(clash)}"
    for column in index_config.get("rangeIndexColumns", []):
        assert columns[column] in NUMERIC_TYPES, f"range index on non-numeric {column}"


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_stream_config_reads_json_from_one_kafka_topic_per_partition(name: str) -> None:
    maps = stream_configs(table_config(name))
    assert len(maps) == 1, f"{name} must have exactly one stream config, found {len(maps)}"
    stream = maps[0]
    assert stream["streamType"] == "kafka"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", stream["stream.kafka.topic.name"])
    assert stream["stream.kafka.broker.list"]
    assert stream["stream.kafka.decoder.class.name"] in JSON_DECODERS
    assert stream["stream.kafka.consumer.factory.class.name"] in KAFKA_CONSUMER_FACTORIES
    # Pinot only has partition-level (low-level) consumers; high-level ones were removed.
    assert stream.get("stream.kafka.consumer.type", "lowlevel").lower() == "lowlevel"
    assert stream.get("stream.kafka.consumer.prop.auto.offset.reset") == "smallest"


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_segments_flush_on_exactly_one_row_or_size_threshold(name: str) -> None:
    stream = stream_configs(table_config(name))[0]
    rows = int(stream.get("realtime.segment.flush.threshold.rows", "5000000"))
    segment_rows = stream.get("realtime.segment.flush.threshold.segment.rows")
    size = stream.get("realtime.segment.flush.threshold.segment.size")
    # Pinot rejects a config with more than one; rows=0 means "size the segments by bytes".
    bounds = [b for b in (rows if rows > 0 else None, segment_rows, size) if b is not None]
    assert len(bounds) == 1, f"{name}: flush thresholds rows={rows} segment.rows={segment_rows}"
    assert stream["realtime.segment.flush.threshold.time"]


def test_each_table_consumes_its_own_topic() -> None:
    topics = [stream_configs(table_config(n))[0]["stream.kafka.topic.name"] for n in TABLE_NAMES]
    assert len(set(topics)) == len(topics), topics


UPSERT_TABLES = {"forecasts_latest", "settlements", "settled_outcomes"}


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_primary_key_columns_exist_and_each_table_upserts_or_dedups_on_them(name: str) -> None:
    key = schema(name)["primaryKeyColumns"]
    assert key, f"{name} needs a primary key: the sink may re-send a batch after a crash"
    assert set(key) <= column_types(name).keys()
    config = table_config(name)
    # Upsert and dedup both need every key's rows on one server: strict replica groups.
    assert config["routing"]["instanceSelectorType"] == "strictReplicaGroup"
    if name in UPSERT_TABLES:
        assert "dedupConfig" not in config
        upsert = config["upsertConfig"]
        assert upsert["mode"] == "FULL"
        for column in upsert["comparisonColumns"]:
            assert column_types(name)[column] in NUMERIC_TYPES, column
        assert "starTreeIndexConfigs" not in config["tableIndexConfig"]
    else:
        assert "upsertConfig" not in config
        assert config["dedupConfig"] == {"dedupEnabled": True, "hashFunction": "NONE"}


def test_the_store_builds_its_duckdb_tables_from_these_schemas() -> None:
    from readmodels.analytics.schemas import analytics_table

    for name in TABLE_NAMES:
        table = analytics_table(name)
        assert dict(table.columns) == EXPECTED_COLUMNS[name]
        assert list(table.primary_key) == schema(name)["primaryKeyColumns"]
        assert table.upsert == (name in UPSERT_TABLES)


# ---- dashboard queries ----------------------------------------------------------------------


def parse_tree(query: DashboardQuery) -> dict[str, Any]:
    """DuckDB's own parse of the query, as JSON (the parser, not a regex, decides)."""
    with duckdb.connect() as con:
        raw = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [query.duckdb_sql]).fetchone()
    assert raw is not None
    tree: dict[str, Any] = json.loads(raw[0])
    assert not tree["error"], f"{query.name}: {tree.get('error_message')}"
    return tree


def nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from nodes(value)


def query_ids(query: DashboardQuery) -> str:
    return query.name


def table_of(query: DashboardQuery) -> str:
    tables = [n["table_name"] for n in nodes(parse_tree(query)) if n.get("type") == "BASE_TABLE"]
    assert len(tables) == 1, f"{query.name} reads {tables}: one table per query"
    return str(tables[0])


def test_dashboard_query_names_are_unique_and_looked_up_by_name() -> None:
    names = [query.name for query in DASHBOARD_QUERIES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)
    assert dashboard_query("odds_movement").title
    with pytest.raises(KeyError, match="forecasts_per_hour"):
        dashboard_query("no_such_query")


def test_every_dashboard_query_has_sample_parameters_here() -> None:
    assert set(SAMPLE_PARAMS) == {query.name for query in DASHBOARD_QUERIES}


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=query_ids)
def test_placeholders_are_exactly_the_declared_params(query: DashboardQuery) -> None:
    assert query.placeholders() == set(query.params)
    assert len(query.params) == len(set(query.params))
    assert set(SAMPLE_PARAMS[query.name]) == set(query.params)
    # pyformat would read any other % as a conversion; Pinot would reject '$'.
    remaining = re.sub(r"%\([a-z_][a-z0-9_]*\)s", "", query.sql)
    assert "%" not in remaining
    assert "$" not in query.sql


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=query_ids)
def test_query_stays_within_what_pinot_and_duckdb_both_accept(query: DashboardQuery) -> None:
    tree = parse_tree(query)
    assert len(tree["statements"]) == 1
    select = tree["statements"][0]["node"]
    assert select["type"] == "SELECT_NODE"
    assert not select["cte_map"]["map"], "no CTEs"
    assert table_of(query) in TABLE_NAMES
    kinds = {str(n.get("type")) for n in nodes(tree)}
    forbidden = {"JOIN", "SUBQUERY", "WINDOW_AGGREGATE", "WINDOW_ROW_NUMBER", "WINDOW_RANK"}
    assert not kinds & forbidden, f"{query.name} uses {sorted(kinds & forbidden)}"
    functions = {str(n["function_name"]) for n in nodes(tree) if n.get("class") == "FUNCTION"}
    functions |= {"count_star" for n in nodes(tree) if n.get("type") == "AGGREGATE_COUNT_STAR"}
    unknown = functions - SHARED_FUNCTIONS - SHARED_OPERATORS
    assert not unknown, f"{query.name} calls {sorted(unknown)}, not in the shared subset"
    limits = [m for m in select["modifiers"] if m["type"] == "LIMIT_MODIFIER"]
    assert limits, f"{query.name} needs an explicit LIMIT"
    assert limits[0]["limit"] is not None, f"{query.name} needs an explicit LIMIT"


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=query_ids)
def test_query_references_only_columns_of_its_pinot_schema(query: DashboardQuery) -> None:
    columns = column_types(table_of(query))
    referenced: set[str] = {
        str(n["column_names"][-1])
        for n in nodes(parse_tree(query))
        if n.get("class") == "COLUMN_REF"
    }
    # Select-list aliases are not column refs Pinot resolves everywhere: none may appear.
    missing = sorted(referenced - columns.keys())
    assert not missing, f"{query.name} references {missing}, not in the {table_of(query)} schema"
    for column in referenced & RESERVED_WORDS:
        unquoted = re.search(rf'(?<!")\b{column}\b(?!")', query.sql)
        assert unquoted is None, f"{query.name}: reserved word {column} must be double-quoted"


# ---- the queries on DuckDB, against tables made from the Pinot schemas ----------------------


def create_table_sql(name: str) -> str:
    columns = ", ".join(f'"{c}" {PINOT_TYPES[t]}' for c, t in column_types(name).items())
    return f'CREATE TABLE "{name}" ({columns})'


def forecast(
    issued_at: int, competition: str, model: str, *, edge: float, model_p: float, market_p: float
) -> dict[str, Any]:
    return {
        "forecast_id": f"f-{issued_at}-{competition}-{model}",
        "fixture_id": "fx-1",
        "sport": "football",
        "competition": competition,
        "season": "2025-26",
        "market": "1x2",
        "model_id": model,
        "model_kind": "football-1x2",
        "model_version": "1",
        "outcome": "home",
        "model_probability": model_p,
        "market_probability": market_p,
        "edge": edge,
        "trigger": "odds_moved",
        "issued_at": issued_at,
        "kickoff_at": T0 + 2 * DAY,
        "notification_id": issued_at,
    }


def quote(*, fixture_id: str, quoted_at: int, price: float, source: str = "b1") -> dict[str, Any]:
    return {
        "quote_id": f"q-{fixture_id}-{quoted_at}-{source}",
        "fixture_id": fixture_id,
        "sport": "football",
        "competition": "EPL",
        "source": source,
        "market": "1x2",
        "outcome": "home",
        "decimal_price": price,
        "implied_probability": 1 / price,
        "overround": 0.05 if source == "b1" else 0.07,
        "margin_method": "proportional",
        "quoted_at": quoted_at,
    }


FORECASTS = [
    # issued_at, competition, model, edge, model probability, market probability
    forecast(T0 + 60_000, "EPL", "m1", edge=0.02, model_p=0.5, market_p=0.48),
    forecast(T0 + 120_000, "EPL", "m1", edge=0.04, model_p=0.6, market_p=0.56),
    forecast(T0 + HOUR + 1, "EPL", "m2", edge=-0.01, model_p=0.3, market_p=0.31),
    forecast(T0 + 5_000, "LaLiga", "m1", edge=0.10, model_p=0.7, market_p=0.6),
    forecast(T0 + DAY + 7, "EPL", "m1", edge=0.0, model_p=0.4, market_p=0.4),
    forecast(T0 - 1, "EPL", "m1", edge=9.0, model_p=0.9, market_p=0.1),  # before every window
]
QUOTES = [
    quote(fixture_id="fx-1", quoted_at=T0 + 1_000, price=2.0),
    quote(fixture_id="fx-1", quoted_at=T0 + 2_000, price=2.2),
    quote(fixture_id="fx-1", quoted_at=T0 + 3_000, price=1.9, source="b2"),
    quote(fixture_id="fx-2", quoted_at=T0 + 4_000, price=3.0),
    quote(fixture_id="fx-1", quoted_at=T0 - 1_000, price=5.0),
]


def latest(fixture: str, outcome: str, *, kickoff: int, edge: float) -> dict[str, Any]:
    row = forecast(T0, "EPL", "m1", edge=edge, model_p=0.5 + edge, market_p=0.5)
    return {**row, "fixture_id": fixture, "outcome": outcome, "kickoff_at": kickoff}


LATEST = [
    latest("fx-1", "home", kickoff=T0 + 2 * DAY, edge=0.02),
    latest("fx-1", "away", kickoff=T0 + 2 * DAY, edge=-0.08),
    latest("fx-2", "home", kickoff=T0 + HOUR, edge=0.05),
    latest("fx-0", "home", kickoff=T0 - DAY, edge=0.30),  # kicked off before the board's window
]


def settlement(forecast_id: str, competition: str, kickoff: int, rps: float) -> dict[str, Any]:
    return {
        "forecast_id": forecast_id,
        "fixture_id": "fx-" + forecast_id,
        "sport": "football",
        "competition": competition,
        "season": "2025-26",
        "market": "1x2",
        "model_id": "m1",
        "model_kind": "football-1x2",
        "model_version": "1",
        "trigger": "odds-opened",
        "track": "odds-open",
        "observed": "home",
        "result_position": 99,
        "rps": rps,
        "log_loss": 1.0,
        "brier": 0.5,
        "market_rps": rps + 0.01,
        "market_log_loss": 1.1,
        "market_brier": 0.6,
        "kickoff_at": kickoff,
        "issued_at": kickoff - DAY,
    }


SETTLEMENTS = [
    settlement("a", "EPL", T0, 0.20),
    settlement("b", "EPL", T0 + DAY, 0.10),
    settlement("c", "EPL", T0 + 40 * DAY, 0.30),  # the next four-week period
    settlement("d", "LaLiga", T0, 0.25),
]


def settled(forecast_id: str, outcome: str, p: float, q: float, hit: int) -> dict[str, Any]:
    row = settlement(forecast_id, "EPL", T0, 0.2)
    keep = set(EXPECTED_COLUMNS["settled_outcomes"])
    return {
        **{k: v for k, v in row.items() if k in keep},
        "outcome": outcome,
        "model_probability": p,
        "market_probability": q,
        "observed": hit,
        "model_bucket": calibration_bucket(p),
        "market_bucket": calibration_bucket(q),
    }


SETTLED_OUTCOMES = [
    settled("a", "home", 0.62, 0.55, 1),
    settled("a", "away", 0.18, 0.25, 0),
    settled("b", "home", 0.65, 0.45, 0),
    settled("b", "away", 0.15, 0.30, 1),
]


@pytest.fixture
def analytics() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for name, rows in (
        ("forecasts", FORECASTS),
        ("odds_quotes", QUOTES),
        ("forecasts_latest", LATEST),
        ("settlements", SETTLEMENTS),
        ("settled_outcomes", SETTLED_OUTCOMES),
    ):
        con.execute(create_table_sql(name))
        columns = list(column_types(name))
        marks = ", ".join("?" for _ in columns)
        con.executemany(
            f'INSERT INTO "{name}" VALUES ({marks})', [[r[c] for c in columns] for r in rows]
        )
    yield con
    con.close()


def run(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    query = dashboard_query(name)
    cursor = con.execute(query.duckdb_sql, SAMPLE_PARAMS[name])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=query_ids)
def test_query_runs_on_duckdb_against_the_schema_tables(
    analytics: duckdb.DuckDBPyConnection, query: DashboardQuery
) -> None:
    assert run(analytics, query.name), f"{query.name} returned no rows from the sample data"


def test_forecasts_per_hour_counts_each_competition_in_its_hour(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "forecasts_per_hour")
    assert [(r["competition"], r["hour_start"], r["forecasts"]) for r in rows] == [
        ("EPL", T0, 2),
        ("LaLiga", T0, 1),
        ("EPL", T0 + HOUR, 1),
    ]


def test_mean_edge_by_model_averages_within_the_window_best_first(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "mean_edge_by_model")
    summary = [(r["model_id"], r["competition"], r["forecasts"], r["mean_edge"]) for r in rows]
    assert summary == [
        ("m1", "LaLiga", 1, pytest.approx(0.10)),
        ("m1", "EPL", 2, pytest.approx(0.03)),
        ("m2", "EPL", 1, pytest.approx(-0.01)),
    ]


def test_model_vs_market_by_day_means_both_probabilities_per_day(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "model_vs_market_by_day")
    epl_day_one = next(r for r in rows if r["competition"] == "EPL" and r["day_start"] == T0)
    assert epl_day_one["forecasts"] == 3
    assert epl_day_one["mean_model_probability"] == pytest.approx((0.5 + 0.6 + 0.3) / 3)
    assert epl_day_one["mean_market_probability"] == pytest.approx((0.48 + 0.56 + 0.31) / 3)
    assert {(r["competition"], r["day_start"]) for r in rows} == {
        ("EPL", T0),
        ("LaLiga", T0),
        ("EPL", T0 + DAY),
    }


def test_odds_movement_lists_one_fixture_newest_first(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "odds_movement")
    assert [(r["quoted_at"], r["decimal_price"]) for r in rows] == [
        (T0 + 3_000, 1.9),
        (T0 + 2_000, 2.2),
        (T0 + 1_000, 2.0),
    ]


def test_price_range_by_fixture_spans_all_sources(analytics: duckdb.DuckDBPyConnection) -> None:
    rows = {r["fixture_id"]: r for r in run(analytics, "price_range_by_fixture")}
    assert (rows["fx-1"]["min_price"], rows["fx-1"]["max_price"]) == (1.9, 2.2)
    assert rows["fx-1"]["quotes"] == 3
    assert rows["fx-1"]["last_quoted_at"] == T0 + 3_000
    assert list(rows) == ["fx-2", "fx-1"]  # most recently quoted first


def test_mean_overround_by_source_lowest_margin_first(analytics: duckdb.DuckDBPyConnection) -> None:
    rows = run(analytics, "mean_overround_by_source")
    assert [(r["source"], r["quotes"]) for r in rows] == [("b1", 3), ("b2", 1)]
    assert rows[0]["mean_overround"] == pytest.approx(0.05)


def test_live_board_lists_fixtures_in_the_window_by_kickoff(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "live_board")
    assert [(r["fixture_id"], r["outcome"]) for r in rows] == [
        ("fx-2", "home"),
        ("fx-1", "away"),
        ("fx-1", "home"),
    ]
    assert rows[0]["trigger"] == "odds_moved"


def test_edge_board_puts_the_largest_difference_first_either_way(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "edge_board")
    assert [(r["fixture_id"], r["outcome"]) for r in rows] == [
        ("fx-1", "away"),
        ("fx-2", "home"),
        ("fx-1", "home"),
    ]
    assert rows[0]["edge"] == pytest.approx(-0.08)


def test_forecast_history_is_one_fixture_in_log_order(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "forecast_history")
    assert [r["notification_id"] for r in rows] == sorted(f["issued_at"] for f in FORECASTS)


def test_calibration_buckets_predictions_by_tenths(analytics: duckdb.DuckDBPyConnection) -> None:
    rows = run(analytics, "calibration")
    assert [(r["bucket"], r["outcomes"]) for r in rows] == [(1, 2), (6, 2)]
    assert rows[1]["mean_predicted"] == pytest.approx((0.62 + 0.65) / 2)
    assert rows[1]["observed_rate"] == pytest.approx(0.5)
    market = run(analytics, "market_calibration")
    assert [(r["bucket"], r["outcomes"]) for r in market] == [(2, 1), (3, 1), (4, 1), (5, 1)]


def test_a_certain_outcome_is_in_the_top_calibration_bucket_as_in_the_track_record() -> None:
    # [b/10, (b+1)/10), with exactly 1 in the last bucket (least(floor(p * 10), 9) in SQL)
    assert [calibration_bucket(p) for p in (0.0, 0.0999, 0.1, 0.95, 0.9999, 1.0)] == [
        0, 0, 1, 9, 9, 9
    ]  # fmt: skip


def test_rps_over_time_buckets_kickoffs_in_four_week_periods(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "rps_by_competition_over_time")
    period = 28 * DAY
    first = T0 // period * period
    assert [(r["competition"], r["period_start"], r["forecasts"]) for r in rows] == [
        ("EPL", first, 2),
        ("LaLiga", first, 1),
        ("EPL", (T0 + 40 * DAY) // period * period, 1),
    ]
    assert rows[0]["mean_rps"] == pytest.approx(0.15)
    assert rows[0]["mean_market_rps"] == pytest.approx(0.16)


def test_track_record_groups_by_competition_season_and_track(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "track_record")
    assert [(r["competition"], r["track"], r["forecasts"]) for r in rows] == [
        ("EPL", "odds-open", 3),
        ("LaLiga", "odds-open", 1),
    ]
    assert rows[0]["mean_rps"] == pytest.approx(0.2)
    assert rows[0]["mean_market_log_loss"] == pytest.approx(1.1)


def test_feed_freshness_shows_the_last_quote_per_source_stalest_first(
    analytics: duckdb.DuckDBPyConnection,
) -> None:
    rows = run(analytics, "feed_freshness")
    assert [(r["source"], r["quotes"], r["last_quoted_at"]) for r in rows] == [
        ("b2", 1, T0 + 3_000),
        ("b1", 3, T0 + 4_000),
    ]
