"""`sportcast projections status` from any process: positions and failures from PostgreSQL,
heads from the streams, and the age of the oldest event each projection has not applied.

Besides the PostgreSQL projections it lists those that keep their rows elsewhere (the
analytics projection's DuckDB file), from the positions they copy to rm_projector.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from nats.aio.client import Client as NATS

from infra.eventstore.reader import DirectReader
from infra.projections.wiring import log_streams, open_logs
from infra.settings import Settings
from projections.catalogue import ELSEWHERE_PROJECTIONS, POSTGRES_PROJECTIONS
from projections.log import EventLog
from readmodels.postgres.positions import (
    Failure,
    read_failures,
    read_positions,
    read_positions_elsewhere,
)
from readmodels.postgres.schemas import live_schema

TIME_STAMP = "Nats-Time-Stamp"
"""The header Direct Get adds: when the server stored the message (RFC 3339, nanoseconds)."""

AppendedAfter = Callable[[str, int], Awaitable[datetime | None]]
"""When the first message after a position of a stream was stored (None: there is none)."""


@dataclass(frozen=True)
class StreamStatus:
    projection: str
    stream: str
    position: int
    head: int
    lag_seconds: float
    """Age of the oldest event not applied yet (0 when caught up)."""
    state: str
    error: str | None

    @property
    def lag_events(self) -> int:
        return max(self.head - self.position, 0)


def stored_at(stamp: str) -> datetime:
    """A ``Nats-Time-Stamp`` value as a datetime (nanoseconds cut to microseconds)."""
    match = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp.strip())
    if match is None:
        raise ValueError(f"not a NATS time stamp: {stamp!r}")
    fraction = (match[2] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(f"{match[1]}.{fraction}{zone}").astimezone(UTC)


def appended_after(nc: NATS, jetstreams: Mapping[str, str]) -> AppendedAfter:
    """Direct Get of the message after a position in each log's JetStream stream."""
    readers: dict[str, DirectReader] = {}

    async def after(stream: str, position: int) -> datetime | None:
        reader = readers.get(stream)
        if reader is None:
            reader = readers[stream] = DirectReader(nc, jetstreams[stream])
            await reader.start()
        record = await reader.next_after(">", position)
        if record is None or TIME_STAMP not in record.headers:
            return None
        return stored_at(record.headers[TIME_STAMP])

    return after


async def projection_report(
    postgres_url: str, logs: Mapping[str, EventLog], appended: AppendedAfter
) -> list[StreamStatus]:
    heads = {name: await log.head() for name, log in logs.items()}
    now = datetime.now(UTC)
    conn = await asyncpg.connect(postgres_url)
    try:
        failures = await read_failures(conn)
        elsewhere = await read_positions_elsewhere(conn)
        standing: list[tuple[str, Sequence[str], dict[str, int] | None]] = []
        for name, kind in POSTGRES_PROJECTIONS.items():
            stored = await read_positions(conn, live_schema(name))
            found = {p.stream: p.position for p in stored} if stored else None
            standing.append((name, tuple(kind.topics), found))
        for name, followed in ELSEWHERE_PROJECTIONS.items():
            standing.append((name, followed, elsewhere.get(name)))
    finally:
        await conn.close()
    out: list[StreamStatus] = []
    for name, streams, found in standing:
        for stream in streams:
            position = (found or {}).get(stream, 0)
            head = heads.get(stream, 0)
            lag = 0.0
            if head > position:
                oldest = await appended(stream, position)
                lag = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
            out.append(
                StreamStatus(
                    name,
                    stream,
                    position,
                    head,
                    lag,
                    _state(found, failures.get(name), head > position, head),
                    _error(failures.get(name), stream),
                )
            )
    return out


def _state(found: dict[str, int] | None, failure: Failure | None, behind: bool, head: int) -> str:
    if failure is not None:
        return "failed"
    if found is None:
        return "live" if head == 0 else "not-started"
    return "catching-up" if behind else "live"


def _error(failure: Failure | None, stream: str) -> str | None:
    if failure is None or failure.stream != stream:
        return None
    return f"stopped after {failure.position}: {failure.error}"


async def stack_report(settings: Settings) -> list[StreamStatus]:
    """The report for the stack ``settings`` describe (one connection, no reconnecting)."""
    async with open_logs(settings, settings.nats_client_url, reconnect=False) as logs:
        appended = appended_after(logs.nc, log_streams(settings))
        return await projection_report(settings.postgres_client_url, logs.logs, appended)
