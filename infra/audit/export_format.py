"""The formats ``sportcast audit export`` writes (apart from the exporter, which needs DuckDB:
the command line names them without importing it)."""

from __future__ import annotations

from enum import StrEnum


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    PARQUET = "parquet"
