"""The analytics rows as the Kafka records Pinot ingests (docs/adr/0005).

One topic per table, named by the table's own Pinot stream config; the record key is the
row's primary key, so every row of a key lands on one partition, which Pinot's upsert and dedup
tables require; the value is the row as compact JSON (Pinot's ``JSONMessageDecoder``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from readmodels.analytics.batch import AnalyticsBatch, Row
from readmodels.analytics.schemas import TABLE_NAMES, analytics_table, pinot_document

KEY_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes


@cache
def topic_of(table: str) -> str:
    config = pinot_document(table, "table")
    streams = config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
    return str(streams[0]["stream.kafka.topic.name"])


def record_of(table: str, row: Row) -> KafkaRecord:
    key = KEY_SEPARATOR.join(str(row[column]) for column in analytics_table(table).primary_key)
    value = json.dumps(row, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return KafkaRecord(topic_of(table), key.encode(), value.encode())


def records_of(batch: AnalyticsBatch) -> list[KafkaRecord]:
    """Every row of ``batch``, table by table, each table's rows in the order they were made."""
    return [record_of(table, row) for table in TABLE_NAMES for row in batch.table_rows(table)]
