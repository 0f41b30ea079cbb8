"""`sportcast replay`: the read models as they were at one moment, built beside the live ones.

Each projection is built from zero, by the same runner and code as a live projection or a
rebuild, over logs cut at the replay's positions (projections/cut.py), into its own schema
``NAME_<projection>`` (the live ``rm_<projection>`` layout, so every read-model query runs on it
with the prefix swapped). Schema ``NAME`` holds the cut: per log, the position and the server
time of the message there. A replay that cannot finish drops what it made: nothing is left
half-built under its name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from projections.cut import LogUntil
from projections.log import EventLog
from projections.postgres import PostgresProjection
from projections.runner import ProjectionRunner
from readmodels.postgres.schemas import check_replay_name, quoted, replay_schema
from readmodels.postgres.switch import drop_schema, schema_exists

MANIFEST = "replay_cut"


class ReplayError(Exception):
    code = "replay-failed"


class BadRange(ReplayError):
    code = "bad-range"


class BadSchemaName(ReplayError):
    code = "bad-schema-name"


class SchemaExists(ReplayError):
    code = "schema-exists"


class ReadStoreUnreachable(ReplayError):
    code = "store-unreachable"


@dataclass(frozen=True)
class Cut:
    """Where each log stops: the position (the stream sequence, inclusive) and when the
    message there was stored (None at position 0). ``until`` is what the auditor asked for."""

    until: str
    positions: Mapping[str, int]
    stored_at: Mapping[str, datetime | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Replayed:
    name: str
    schemas: list[str]
    positions: dict[str, int]
    events: int
    seconds: float


async def replay(
    kinds: Sequence[type[PostgresProjection]],
    logs: Mapping[str, EventLog],
    cut: Cut,
    postgres_url: str,
    name: str,
    *,
    page_size: int = 5000,
    within: float = 24 * 3600.0,
) -> Replayed:
    try:
        check_replay_name(name)
    except ValueError as exc:
        raise BadSchemaName(str(exc)) from None
    missing = {s for k in kinds for s in k.topics if s not in cut.positions or s not in logs}
    if missing:
        raise BadRange(f"no cut position for log(s) {', '.join(sorted(missing))}")
    started = time.monotonic()
    schemas = [replay_schema(name, k.name) for k in kinds]
    conn = await _connect(postgres_url)
    try:
        taken = [s for s in (name, *schemas) if await schema_exists(conn, s)]
        if taken:
            raise SchemaExists(
                f"schema {', '.join(taken)} already exists; choose another name or drop it"
            )
        try:
            await conn.execute(f"CREATE SCHEMA {quoted(name)}")
        except asyncpg.DuplicateSchemaError:
            raise SchemaExists(f"schema {name} was made meanwhile by someone else") from None
        try:
            events = await _build(kinds, logs, cut, postgres_url, name, page_size, within)
            await _write_manifest(conn, name, cut)
        except BaseException:
            for schema in (*schemas, name):
                await drop_schema(conn, schema)
            raise
    finally:
        await conn.close()
    positions = {s: cut.positions[s] for k in kinds for s in k.topics}
    return Replayed(name, [name, *schemas], positions, events, time.monotonic() - started)


async def _connect(postgres_url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(postgres_url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError) as exc:
        raise ReadStoreUnreachable(f"cannot reach PostgreSQL: {exc}") from None


async def _build(
    kinds: Sequence[type[PostgresProjection]],
    logs: Mapping[str, EventLog],
    cut: Cut,
    postgres_url: str,
    name: str,
    page_size: int,
    within: float,
) -> int:
    projections = [k(postgres_url, schema=replay_schema(name, k.name), live=False) for k in kinds]
    followed = {s for k in kinds for s in k.topics}
    cut_logs: dict[str, EventLog] = {s: LogUntil(logs[s], cut.positions[s]) for s in followed}
    runner = ProjectionRunner(projections, cut_logs, page_size=page_size)
    async with runner:
        # A cut may fall on a message that is no event (a checkpoint, a tracking record): the
        # logs' heads inside the cut are where the projections stop.
        done = await runner.caught_up(within)
    failed = runner.failed
    if failed:
        raise ReplayError(
            "; ".join(
                f"{s.name} failed after {s.failed_stream} {s.failed_position}: {s.error}"
                for s in failed
            )
        )
    if not done:
        raise ReplayError(f"the replay did not reach the cut within {within:g} s")
    return sum(s.events_applied for s in runner.statuses.values())


async def _write_manifest(conn: asyncpg.Connection, name: str, cut: Cut) -> None:
    table = f"{quoted(name)}.{MANIFEST}"
    await conn.execute(
        f"CREATE TABLE {table} (stream text PRIMARY KEY, position bigint NOT NULL,"
        " stored_at timestamptz, until text NOT NULL, replayed_at timestamptz NOT NULL"
        " DEFAULT now())"
    )
    await conn.executemany(
        f"INSERT INTO {table} (stream, position, stored_at, until) VALUES ($1, $2, $3, $4)",
        [(s, p, cut.stored_at.get(s), cut.until) for s, p in sorted(cut.positions.items())],
    )
