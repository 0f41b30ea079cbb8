"""Raw stored messages, with their positions and headers, for external audit tools.

JSON Lines is written as it is read; Parquet is made from those lines by DuckDB (already the
embedded analytics engine), so a whole-log export never sits in memory.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import duckdb
from nats.aio.client import Client as NATS

from infra.audit.errors import BadRange
from infra.audit.export_format import ExportFormat
from infra.audit.log import Progress, pages
from infra.eventstore.records import RawRecord
from infra.eventstore.subjects import SubjectLayout

# Headers a batched Direct Get adds about the read itself (how many are left, the previous
# message of the batch, where the batch stops): not the stored message's, and different from
# one export to the next, so never written.
READ_HEADERS = frozenset({"Nats-Num-Pending", "Nats-Last-Sequence", "Nats-UpTo-Sequence"})


def record_json(stream: str, record: RawRecord) -> dict[str, Any]:
    headers = {k: v for k, v in sorted(record.headers.items()) if k not in READ_HEADERS}
    line: dict[str, Any] = {
        "stream": stream,
        "position": record.seq,
        "subject": record.subject,
        "headers": headers,
        "data_base64": base64.b64encode(record.data).decode(),
    }
    try:
        line["data"] = record.data.decode()
    except UnicodeDecodeError:
        line["data"] = None
    return line


def write_lines(out: IO[str], stream: str, records: Iterable[RawRecord]) -> int:
    n = 0
    for record in records:
        out.write(json.dumps(record_json(stream, record), separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


async def export(
    nc: NATS,
    stream: str,
    target: Path,
    *,
    fmt: ExportFormat,
    first: int = 1,
    last: int | None = None,
    subjects: list[str] | None = None,
    on_page: Progress | None = None,
) -> int:
    """Write messages ``first..last`` (positions, inclusive) to ``target``; returns how many."""
    if first < 1 or (last is not None and last < first):
        raise BadRange(f"--from {first} --to {last}: positions start at 1 and --to >= --from")
    layout = SubjectLayout(stream)
    wanted = [_qualified(layout, s) for s in subjects] if subjects else [layout.all_subjects]
    lines = target if fmt is ExportFormat.JSONL else _scratch(target)
    count = 0
    with lines.open("w") as out:
        for subject in wanted:
            async for page in pages(
                nc,
                stream,
                subject=subject,
                start_seq=first,
                up_to_seq=last,
                on_page=on_page,
                server_headers=True,
            ):
                count += write_lines(out, stream, page)
    if fmt is ExportFormat.PARQUET:
        _to_parquet(lines, target, count)
        lines.unlink()
    return count


def _qualified(layout: SubjectLayout, subject: str) -> str:
    """Subjects may be given inside the stream (``evt.>``) or in full (``es.S.evt.>``)."""
    return subject if subject.startswith(layout.prefix + ".") else f"{layout.prefix}.{subject}"


def _scratch(target: Path) -> Path:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed at once, removed after use
        suffix=".jsonl", dir=target.parent, delete=False
    )
    handle.close()
    return Path(handle.name)


def _to_parquet(lines: Path, target: Path, count: int) -> None:
    con = duckdb.connect()
    try:
        if count == 0:
            con.execute(
                "COPY (SELECT NULL::VARCHAR AS stream, NULL::BIGINT AS position, "
                "NULL::VARCHAR AS subject, NULL::JSON AS headers, NULL::VARCHAR AS data_base64, "
                "NULL::VARCHAR AS data WHERE false) TO ? (FORMAT parquet)",
                [str(target)],
            )
            return
        con.execute(
            "COPY (SELECT stream, position, subject, headers, data_base64, data "
            "FROM read_json(?, format='newline_delimited', columns={stream: 'VARCHAR', "
            "position: 'BIGINT', subject: 'VARCHAR', headers: 'JSON', data_base64: 'VARCHAR', "
            "data: 'VARCHAR'}) ORDER BY position) TO ? (FORMAT parquet)",
            [str(lines), str(target)],
        )
    finally:
        con.close()
