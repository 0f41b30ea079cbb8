"""The analytics sink's Kafka side, without a broker (none can run here): records, keys,
partitions and producer settings; and a clear error when no broker answers."""

from __future__ import annotations

import json
import socket

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from infra.analytics.kafka_sink import AnalyticsSinkUnavailable, KafkaRowSink, producer_options
from readmodels.analytics.batch import AnalyticsBatch
from readmodels.analytics.kafka_records import record_of, records_of, topic_of
from readmodels.analytics.schemas import TABLE_NAMES, analytics_table, pinot_document

ROW = {
    "forecast_id": "9f0c:3",
    "fixture_id": "fx-1",
    "sport": "football",
    "competition": "E0",
    "season": "2015-16",
    "market": "1x2",
    "model_id": "m1",
    "model_kind": "football-1x2",
    "model_version": "abc",
    "outcome": "draw",
    "trigger": "odds-moved",
    "notification_id": 42,
    "model_probability": 0.3,
    "market_probability": 0.25,
    "edge": 0.05,
    "issued_at": 1_700_000_000_000,
    "kickoff_at": 1_700_100_000_000,
}


@pytest.mark.parametrize(
    ("key", "java"),
    [
        # Kafka's own UtilsTest.testMurmur2 vectors (signed 32-bit, as the Java client returns).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_the_partitioner_hashes_keys_like_the_java_client(key: bytes, java: int) -> None:
    assert murmur2(key) == java & 0xFFFFFFFF


def test_each_table_publishes_to_the_topic_its_pinot_table_consumes() -> None:
    for table in TABLE_NAMES:
        streams = pinot_document(table, "table")["ingestionConfig"]["streamIngestionConfig"]
        assert topic_of(table) == streams["streamConfigMaps"][0]["stream.kafka.topic.name"]
    assert len({topic_of(t) for t in TABLE_NAMES}) == len(TABLE_NAMES)


def test_a_record_is_the_row_as_json_keyed_by_its_primary_key() -> None:
    record = record_of("forecasts", ROW)
    assert record.topic == "sportcast.forecasts"
    assert record.key == b"9f0c:3|draw"
    decoded = json.loads(record.value)
    assert decoded == ROW
    assert set(decoded) == set(analytics_table("forecasts").column_names)


def test_rows_of_one_key_always_land_on_one_partition() -> None:
    # Upsert tables need it: a newer forecast for the same fixture, model kind and outcome must
    # reach the partition (and so the Pinot server) that holds the older one.
    partitions = list(range(12))
    partition = DefaultPartitioner()
    older = record_of("forecasts_latest", ROW)
    newer = record_of("forecasts_latest", {**ROW, "forecast_id": "9f0c:4", "notification_id": 43})
    assert older.key == newer.key == b"fx-1|football-1x2|draw"
    assert partition(older.key, partitions, partitions) == partition(newer.key, partitions, [])


def test_a_batch_becomes_one_record_per_row_per_table() -> None:
    batch = AnalyticsBatch()
    batch.add("forecasts", ROW)
    batch.add("forecasts_latest", ROW)
    batch.add("forecasts_latest", {**ROW, "notification_id": 43})  # replaces the row of its key
    records = records_of(batch)
    assert [r.topic for r in records] == ["sportcast.forecasts", "sportcast.forecasts_latest"]
    assert json.loads(records[1].value)["notification_id"] == 43


def test_nan_is_refused_rather_than_sent_as_invalid_json() -> None:
    with pytest.raises(ValueError, match="JSON"):
        record_of("forecasts", {**ROW, "edge": float("nan")})


def test_the_producer_waits_for_all_replicas_and_is_idempotent() -> None:
    options = producer_options(
        "kafka:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="analytics-sink",
        password="s3cret",
    )
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_plain_username"] == "analytics-sink"
    assert "sasl_mechanism" not in producer_options("kafka:9092")


def test_no_broker_gives_a_clear_error_with_a_stable_code() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {**producer_options(f"127.0.0.1:{port}"), "request_timeout_ms": 2000}
    with pytest.raises(AnalyticsSinkUnavailable, match=f"127.0.0.1:{port}") as error:
        KafkaRowSink(options, start_timeout=20)
    assert error.value.code == "analytics-sink-unavailable"
