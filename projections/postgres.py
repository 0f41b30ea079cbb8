"""A projection whose view is a PostgreSQL schema: rows and position in one transaction."""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Collection, Sequence

import asyncpg
from eventsourcing.persistence import Notification

from projections.log import Page
from projections.projection import PositionMoved, Projection, StoreUnavailable
from projections.tracing import trace_applied
from readmodels.postgres import bulk
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.positions import (
    begin_page,
    clear_failure,
    commit_page,
    moved_to,
    projection_lock_key,
    read_positions,
    record_failure,
)
from readmodels.postgres.schemas import PROJECTOR_SCHEMA, live_schema

_UNREACHABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    OSError,
    ConnectionError,
    TimeoutError,
)


class PostgresProjection(Projection):
    def __init__(self, postgres_url: str, *, schema: str | None = None, live: bool = True) -> None:
        """``live=False``: a copy built for an audit (`sportcast replay`): its failures are not
        recorded where `projections status` reads the live projection's, and the events it
        applies add no spans to the traces they were stored in long ago."""
        self.postgres_url = postgres_url
        self.schema = schema or live_schema(self.name)
        self.live = live
        self._conn: asyncpg.Connection | None = None
        self._lock_key = projection_lock_key(self.name)

    # -- the view, per projection ---------------------------------------------------------

    @abstractmethod
    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> Collection[str] | None:
        """Write what ``notifications`` change, inside the open transaction. May return the
        keys of the rows changed, which the commit's notice then names (readers drop only
        what changed: readmodels.postgres.positions.CHANNEL); None: not told."""

    # -- the Projection contract ----------------------------------------------------------

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self.migrate)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(str(exc)) from exc

    def migrate(self) -> list[str]:
        apply_migrations(self.postgres_url, "projector", PROJECTOR_SCHEMA)
        return apply_migrations(self.postgres_url, self.name, self.schema)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            bulk.forget_connection(conn)
            await conn.close()

    async def position(self, stream: str) -> int:
        conn = await self._connection()
        try:
            for stored in await read_positions(conn, self.schema):
                if stored.stream == stream:
                    return stored.position
            return 0
        except _UNREACHABLE as exc:
            await self._drop()
            raise StoreUnavailable(str(exc)) from exc

    async def apply(self, stream: str, after: int, page: Page) -> None:
        conn = await self._connection()
        started_ns = time.time_ns()
        try:
            # BEGIN and COMMIT each share a round trip with the statements beside them (the
            # position check included): a live page is a few statements, and each round trip
            # is lag.
            try:
                try:
                    await conn.execute(begin_page(self._lock_key, (self.schema, stream, after)))
                except asyncpg.PostgresError as exc:
                    stored = moved_to(exc)
                    if stored is None:
                        raise
                    raise PositionMoved(stored) from None
                changed: Collection[str] | None = ()
                if page.notifications:
                    changed = await self.write(conn, stream, page.notifications)
                await conn.execute(
                    commit_page(
                        self.schema,
                        self.name,
                        stream,
                        page.through,
                        caught_up=page.at_head,
                        keys=changed,
                    )
                )
            except BaseException:
                if not conn.is_closed():
                    await conn.execute("ROLLBACK")
                raise
        except _UNREACHABLE as exc:
            await self._drop()
            raise StoreUnavailable(str(exc)) from exc
        if self.live and page.at_head and page.notifications:
            trace_applied(self.name, stream, page.notifications, started_ns)

    async def record_failure(self, stream: str, position: int, error: str) -> None:
        if not self.live:
            return
        conn = await self._connection()
        await record_failure(conn, self.name, stream, position, error)

    async def clear_failure(self) -> None:
        if not self.live:
            return
        conn = await self._connection()
        await clear_failure(conn, self.name)

    # -- the connection -------------------------------------------------------------------

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            try:
                self._conn = await asyncpg.connect(self.postgres_url)
            except _UNREACHABLE as exc:
                raise StoreUnavailable(str(exc)) from exc
        return self._conn

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            bulk.forget_connection(conn)
            conn.terminate()
