"""Rebuilding the analytics tables on request (readmodels/postgres/rebuild_requests.py).

Only the process that holds the DuckDB file can write it. The holder takes a request from
PostgreSQL, has its running projection rebuild from zero beside the live tables
(AnalyticsRunner.request_rebuild), and copies the rebuild's progress and end into the request
each time its standing is copied (``RebuildAnswers``); the command that asked follows the
request to its end (``ask_holder``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import asyncpg

from infra.analytics.runner import AnalyticsRunner, RebuildRefused
from readmodels.postgres import rebuild_requests as requests
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.rebuild_requests import RebuildRequest
from readmodels.postgres.schemas import PROJECTOR_SCHEMA

log = logging.getLogger("sportcast.analytics")


class RebuildAnswers:
    def __init__(self, runner: AnalyticsRunner, projection: str, streams: dict[str, str]) -> None:
        """``streams``: each lane of the runner under the stream name the request shows."""
        self.runner = runner
        self.projection = projection
        self.streams = streams
        self.building: int | None = None
        """The request this process is building."""

    async def begin(self, conn: asyncpg.Connection) -> None:
        """On the first connection: a rebuild an earlier holder was building cannot end."""
        await requests.abandon_unfinished(
            conn, self.projection, "the process that held the file stopped before the switch"
        )

    async def tick(self, conn: asyncpg.Connection) -> None:
        """Report the rebuild under way, or take the next request and start it."""
        if self.building is not None:
            await self._report(conn, self.building)
            return
        taken = await requests.take(conn, self.projection)
        if taken is None:
            return
        try:
            self.runner.request_rebuild()
        except RebuildRefused as exc:
            log.warning("analytics rebuild request %d refused: %s", taken.id, exc)
            await requests.report(conn, taken.id, "refused", detail=f"{exc.code}: {exc}")
            return
        log.info("analytics rebuild request %d taken", taken.id)
        self.building = taken.id
        await self._report(conn, taken.id)

    async def _report(self, conn: asyncpg.Connection, request_id: int) -> None:
        progress = self.runner.rebuild_progress
        if progress is None:  # not possible once a request was taken; said rather than hidden
            raise RuntimeError("a rebuild was taken but the runner reports none")
        positions = {
            self.streams.get(lane, lane): position for lane, position in progress.positions.items()
        }
        await requests.report(
            conn,
            request_id,
            progress.state,
            events=progress.events,
            positions=positions,
            detail=progress.error,
        )
        if progress.finished:
            self.building = None


class RebuildNotDone(Exception):
    """The asker's side: the rebuild did not switch in; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def ask_holder(
    postgres_url: str,
    projection: str,
    *,
    within: float,
    take_within: float = 30.0,
    silent_within: float = 60.0,
    progress: Callable[[RebuildRequest], None] = lambda _: None,
) -> RebuildRequest:
    """Ask the holder to rebuild and follow it to its switch (returned), or raise
    RebuildNotDone: nobody took the request within ``take_within`` s, the holder fell
    silent for ``silent_within`` s, no end within ``within`` s, or it ended otherwise."""
    await asyncio.to_thread(apply_migrations, postgres_url, "projector", PROJECTOR_SCHEMA)
    conn = await asyncpg.connect(postgres_url)
    try:
        running = await requests.under_way(conn, projection)
        if running is not None:
            raise RebuildNotDone(
                f"{projection}-rebuild-running",
                f"rebuild request {running.id} (asked {running.requested_at:%H:%M:%S} UTC) is"
                f" {running.state}, {running.events} events so far: wait for it to end",
            )
        request = await requests.ask(conn, projection)
        started = time.monotonic()
        while request.state == "requested":
            if time.monotonic() - started > take_within and await requests.withdraw(
                conn, request.id
            ):
                raise RebuildNotDone(
                    f"{projection}-rebuild-unanswered",
                    f"no process took rebuild request {request.id} within {take_within:g} s:"
                    " the process that holds the file takes requests from this PostgreSQL"
                    " (`sportcast up`, or `sportcast analytics run` with SPORTCAST_POSTGRES_URL"
                    " set); one without it must be stopped to rebuild here",
                )
            await asyncio.sleep(0.5)
            request = await requests.read(conn, request.id)
        shown = None
        while not request.finished:
            if (request.state, request.events) != shown:
                progress(request)
                shown = (request.state, request.events)
            if await requests.silent_for(conn, request.id) > silent_within:
                raise RebuildNotDone(
                    f"{projection}-rebuild-lost",
                    f"the process building rebuild request {request.id} has not reported for"
                    f" {silent_within:g} s; its live tables are untouched until it switches",
                )
            if time.monotonic() - started > within:
                raise RebuildNotDone(
                    f"{projection}-rebuild-timeout",
                    f"rebuild request {request.id} still {request.state} after {within:g} s"
                    f" ({request.events} events); it goes on in the process that holds the file"
                    f" (see {requests.TABLE})",
                )
            await asyncio.sleep(1.0)
            request = await requests.read(conn, request.id)
    finally:
        await conn.close()
    if request.state == "switched":
        return request
    detail = request.detail or ""
    if request.state == "refused":
        code, _, message = detail.partition(": ")
        raise RebuildNotDone(code, message or detail)
    raise RebuildNotDone(
        f"{projection}-rebuild-{request.state}",
        f"rebuild request {request.id} {request.state}: {detail}; the live tables kept serving,"
        " unchanged",
    )
