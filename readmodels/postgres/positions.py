"""Projection positions: read and written inside the projection's own transaction.

A position is the notification id (the stream sequence) of the last event a projection has
applied in one stream. Rows and position commit together, so after a crash the projection
resumes exactly where its committed rows end: nothing applied twice, nothing skipped.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from readmodels.postgres.schemas import PROJECTOR_SCHEMA, quoted

CHANNEL = "sportcast_projections"
"""NOTIFY channel: a payload ``<projection> <stream> <position>[ <keys>]`` after each commit.
``<keys>``, when present, names every row key the commit changed (for the fixtures and
forecasts projections: fixture ids), comma-separated, or ``-`` for none; absent, the commit may
have changed anything (a projection that does not tell, or more than ``NOTIFIED_KEYS``)."""
NOTIFIED_KEYS = 100
"""At most this many keys in a notice (100 UUIDs: 3.7 KB, under PostgreSQL's 8,000-byte NOTIFY
payload limit); a commit that changed more says nothing of its keys."""


def commit_notice(
    projection: str, stream: str, position: int, keys: Collection[str] | None = None
) -> str:
    """The NOTIFY payload of a commit (see ``CHANNEL``)."""
    notice = f"{projection} {stream} {int(position)}"
    if keys is None or len(keys) > NOTIFIED_KEYS:
        return notice
    return f"{notice} {','.join(sorted(keys)) or '-'}"


@dataclass(frozen=True)
class CommitNotice:
    projection: str
    stream: str
    position: int
    keys: frozenset[str] | None
    """What the commit changed; None: it may have changed anything."""

    @classmethod
    def parse(cls, payload: str) -> CommitNotice:
        """A payload of ``CHANNEL`` (ValueError if it is none)."""
        projection, stream, position, *rest = payload.split(" ")
        if len(rest) > 1:
            raise ValueError(f"not a commit notice: {payload!r}")
        if not rest:
            return cls(projection, stream, int(position), None)
        keys = frozenset() if rest[0] == "-" else frozenset(rest[0].split(","))
        return cls(projection, stream, int(position), keys)


def projection_lock_key(projection: str) -> int:
    """The advisory lock a batch holds shared and a schema switch holds exclusive."""
    return zlib.crc32(f"sportcast-projection:{projection}".encode()) - (1 << 31)


@dataclass(frozen=True)
class StoredPosition:
    stream: str
    position: int
    caught_up_at: datetime | None
    updated_at: datetime


POSITION_MOVED = "SC409"
"""SQLSTATE of ``rm_projector.expect_position``: the stored position is not the one expected."""


def begin_page(lock_key: int, expect: tuple[str, str, int] | None = None) -> str:
    """One round trip opening a page's transaction: BEGIN and the projection's lock, shared
    (a rebuild's switch takes it exclusively; see switch.py). ``expect`` = (schema, stream,
    position): also lock that position's row and fail with POSITION_MOVED (``moved_to`` reads
    the error) unless it stands there, before any row is written.

    The commit does not wait for its WAL flush (``synchronous_commit = off``, this transaction
    only): a PostgreSQL crash may forget the last pages committed (well under a second's), but
    rows and position go together, so the projection redoes exactly those pages from the log;
    nothing is half-applied or applied twice (docs/adr/0033)."""
    check = ""
    if expect is not None:
        schema, stream, position = expect
        in_schema, of_stream = schema.replace("'", "''"), stream.replace("'", "''")
        check = (
            f" SELECT {PROJECTOR_SCHEMA}.expect_position('{in_schema}', '{of_stream}',"
            f" {int(position)});"
        )
    return (
        f"BEGIN; SET LOCAL synchronous_commit = off;"
        f" SELECT pg_advisory_xact_lock_shared({int(lock_key)});{check}"
    )


def moved_to(error: asyncpg.PostgresError) -> int | None:
    """The stored position a POSITION_MOVED error names; None for any other error."""
    if getattr(error, "sqlstate", None) != POSITION_MOVED:
        return None
    return int(str(getattr(error, "message", "") or error).rsplit(" ", 1)[-1])


def commit_page(
    schema: str,
    projection: str,
    stream: str,
    position: int,
    *,
    caught_up: bool,
    keys: Collection[str] | None = None,
) -> str:
    """One round trip closing a page's transaction: the new position, the NOTIFY waiters
    listen for (naming the changed ``keys`` if told), COMMIT. Names are the projector's own
    (identifiers checked in schemas.py)."""
    literal = stream.replace("'", "''")
    payload = commit_notice(projection, stream, position, keys).replace("'", "''")
    caught = "now()" if caught_up else "caught_up_at"
    return (
        f"UPDATE {quoted(schema)}.projection_position SET position = {int(position)},"
        f" updated_at = now(), caught_up_at = {caught} WHERE stream = '{literal}';"
        f" SELECT pg_notify('{CHANNEL}', '{payload}'); COMMIT;"
    )


async def read_positions(conn: asyncpg.Connection, schema: str) -> list[StoredPosition]:
    """Every stream's position in ``schema`` (empty when the schema does not exist yet)."""
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{quoted(schema)}.projection_position"
    )
    if not exists:
        return []
    rows = await conn.fetch(
        "SELECT stream, position, caught_up_at, updated_at"
        f" FROM {quoted(schema)}.projection_position ORDER BY stream"
    )
    return [
        StoredPosition(r["stream"], r["position"], r["caught_up_at"], r["updated_at"]) for r in rows
    ]


@dataclass(frozen=True)
class Failure:
    projection: str
    stream: str
    position: int
    error: str
    failed_at: datetime


async def record_failure(
    conn: asyncpg.Connection, projection: str, stream: str, position: int, error: str
) -> None:
    await conn.execute(
        f"INSERT INTO {PROJECTOR_SCHEMA}.failures (projection, stream, position, error)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (projection) DO UPDATE SET stream = $2,"
        " position = $3, error = $4, failed_at = now()",
        projection,
        stream,
        position,
        error[:4000],
    )


async def clear_failure(conn: asyncpg.Connection, projection: str) -> None:
    await conn.execute(f"DELETE FROM {PROJECTOR_SCHEMA}.failures WHERE projection = $1", projection)


async def read_failures(conn: asyncpg.Connection) -> dict[str, Failure]:
    if not await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{PROJECTOR_SCHEMA}.failures"
    ):
        return {}
    rows = await conn.fetch(
        f"SELECT projection, stream, position, error, failed_at FROM {PROJECTOR_SCHEMA}.failures"
    )
    return {r["projection"]: Failure(**dict(r)) for r in rows}


async def mirror_positions(
    conn: asyncpg.Connection, projection: str, positions: dict[str, int]
) -> None:
    """Copy where a projection that keeps its rows elsewhere stands, per stream."""
    await conn.executemany(
        f"INSERT INTO {PROJECTOR_SCHEMA}.positions_elsewhere (projection, stream, position)"
        " VALUES ($1, $2, $3) ON CONFLICT (projection, stream) DO UPDATE"
        " SET position = EXCLUDED.position, updated_at = now()",
        [(projection, stream, position) for stream, position in positions.items()],
    )


async def read_positions_elsewhere(conn: asyncpg.Connection) -> dict[str, dict[str, int]]:
    """Per projection kept elsewhere, its mirrored position per stream (empty before any)."""
    if not await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{PROJECTOR_SCHEMA}.positions_elsewhere"
    ):
        return {}
    rows = await conn.fetch(
        f"SELECT projection, stream, position FROM {PROJECTOR_SCHEMA}.positions_elsewhere"
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["projection"], {})[r["stream"]] = int(r["position"])
    return out
