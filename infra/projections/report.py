"""`sportcast projections status` from any process: positions and failures from PostgreSQL,
heads from the streams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from projections.catalogue import POSTGRES_PROJECTIONS
from projections.log import EventLog
from readmodels.postgres.positions import read_failures, read_positions
from readmodels.postgres.schemas import live_schema


@dataclass(frozen=True)
class StreamStatus:
    projection: str
    stream: str
    position: int
    head: int
    lag_seconds: float
    state: str
    error: str | None

    @property
    def lag_events(self) -> int:
        return max(self.head - self.position, 0)


async def projection_report(postgres_url: str, logs: dict[str, EventLog]) -> list[StreamStatus]:
    heads = {name: await log.head() for name, log in logs.items()}
    now = datetime.now(UTC)
    conn = await asyncpg.connect(postgres_url)
    try:
        failures = await read_failures(conn)
        out: list[StreamStatus] = []
        for name, kind in POSTGRES_PROJECTIONS.items():
            stored = {p.stream: p for p in await read_positions(conn, live_schema(name))}
            failure = failures.get(name)
            for stream in kind.topics:
                p = stored.get(stream)
                position = p.position if p else 0
                head = heads.get(stream, 0)
                behind = head > position
                since = p.caught_up_at if p and p.caught_up_at else None
                lag = (now - since).total_seconds() if behind and since else 0.0
                if failure is not None:
                    state = "failed"
                elif p is None and head == 0:
                    state = "live"
                elif p is None:
                    state = "not-started"
                else:
                    state = "catching-up" if behind else "live"
                out.append(
                    StreamStatus(
                        name,
                        stream,
                        position,
                        head,
                        lag,
                        state,
                        failure.error if failure and failure.stream == stream else None,
                    )
                )
        return out
    finally:
        await conn.close()
