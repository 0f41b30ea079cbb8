"""The analytics projection's standing, copied into PostgreSQL for everyone else to read.

Its rows and positions live in a DuckDB file that one process holds; `sportcast projections
status` and /readyz of other processes read PostgreSQL. Every ``every`` seconds the positions
written to the file, and a failure (the log, the position it stopped after, the error), are
copied to ``rm_projector`` (positions_elsewhere, failures) under the name ``analytics`` and the
stream names the PostgreSQL projections use. The same loop answers the rebuild requests made
there (``rm_projector.rebuild_requests``), since only this process can write the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator

import asyncpg

from infra.analytics.rebuilding import RebuildAnswers
from infra.analytics.runner import AnalyticsRunner
from projections.analytics.projection import FEED_LANE, FORECAST_LANE
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.positions import clear_failure, mirror_positions, record_failure
from readmodels.postgres.schemas import PROJECTOR_SCHEMA

log = logging.getLogger("sportcast.analytics")

NAME = "analytics"
STREAMS = {FEED_LANE: "events", FORECAST_LANE: "forecasts"}
"""Each lane of the analytics projection under the stream name the read models use."""


def standing(runner: AnalyticsRunner) -> tuple[dict[str, int], tuple[str, int, str] | None]:
    """The written positions by stream, and the failure as (stream, position, error)."""
    positions = {
        STREAMS[lane]: p for lane, p in runner.store.positions().items() if lane in STREAMS
    }
    failure = runner.failure
    if failure is None:
        return positions, None
    stream = STREAMS[runner.failed_lane or FEED_LANE]
    error = f"{type(failure).__name__}: {failure}"
    return positions, (stream, positions.get(stream, 0), error)


async def mirror_analytics(
    runner: AnalyticsRunner, postgres_url: str, *, every: float = 1.0
) -> None:
    """Copy the runner's standing into PostgreSQL until cancelled (unreachable: try again),
    and answer the rebuild requests made there (infra/analytics/rebuilding.py)."""
    await asyncio.to_thread(apply_migrations, postgres_url, "projector", PROJECTOR_SCHEMA)
    answers = RebuildAnswers(runner, NAME, STREAMS)
    begun = False
    copied: tuple[dict[str, int], tuple[str, int, str] | None] | None = None
    conn: asyncpg.Connection | None = None
    try:
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(postgres_url)
                if not begun:
                    await answers.begin(conn)
                    begun = True
                await answers.tick(conn)
                now = await asyncio.to_thread(standing, runner)
                if now != copied:
                    await _copy(conn, *now)
                    copied = now
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("analytics status not copied to PostgreSQL: %s", exc)
                conn = None
            await asyncio.sleep(every)
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


@contextlib.contextmanager
def mirroring(runner: AnalyticsRunner, postgres_url: str, *, every: float = 1.0) -> Iterator[None]:
    """The copy, in a thread of its own, for as long as the block runs: for a process with no
    event loop of its own (`sportcast analytics run`, compose's analytics-sink)."""
    loop = asyncio.new_event_loop()
    copying = loop.create_task(mirror_analytics(runner, postgres_url, every=every))

    def run() -> None:
        try:
            loop.run_until_complete(copying)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # e.g. PostgreSQL unreachable for its migrations at the start
            log.warning("analytics status not copied to PostgreSQL: %s", exc)

    thread = threading.Thread(target=run, name="analytics-mirror", daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(copying.cancel)
        thread.join(10.0)
        if not thread.is_alive():
            loop.close()


async def _copy(
    conn: asyncpg.Connection, positions: dict[str, int], failure: tuple[str, int, str] | None
) -> None:
    async with conn.transaction():
        if positions:
            await mirror_positions(conn, NAME, positions)
        if failure is None:
            await clear_failure(conn, NAME)
        else:
            await record_failure(conn, NAME, *failure)
