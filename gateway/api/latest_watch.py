"""The watcher that keeps the latest-forecast copies honest when a notification is lost.

Every ``every`` seconds it reads what the forecasts and fixtures projections have committed (a
small query on their position tables) and hands it to the cache, which drops every copy when
the reading shows a commit no notice announced (after ``NOTICE_GRACE``: a notice leaves with its
commit and is normally in within milliseconds) or a schema switched in, and serves copies only
until ``2 x every`` seconds after the start of the last reading that succeeded. A commit is in
every reading that starts after it, so a copy is never older than a commit by more than
``2 x every`` seconds, whatever happens to the NOTIFY connection or the readings
(docs/adr/0029); normally the notification drops it (its fixture's copy) within milliseconds.
A reading that fails or takes too long changes nothing: the copies lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from gateway.api.latest import ANSWERED_FROM, LatestCache
from gateway.api.ports import ReadModels

log = logging.getLogger("sportcast.gateway.latest")

NOTICE_GRACE = 0.1
"""Seconds a reading waits for the notices of the commits it saw before it takes them for lost."""


async def confirm_forever(cache: LatestCache, reads: ReadModels, *, every: float) -> None:
    projections = sorted(ANSWERED_FROM)
    cache.await_readings()
    failing = False
    until: float | None = None
    while True:
        began = cache.now()
        if until is not None and began > until and not failing:  # every read missed meanwhile
            log.warning("latest-forecast copies were unconfirmed for %.2f s", began - until)
        try:
            async with asyncio.timeout(2 * every):  # later, its confirmation would be void
                committed = await reads.committed(projections)
            if cache.unannounced(committed):
                # Usually a notice still on its way (it left with the commit): give it a
                # moment before taking it for lost and dropping every copy.
                await asyncio.sleep(min(NOTICE_GRACE, every / 4))
        except Exception as exc:  # any failure: the copies lapse unless a reading succeeds
            if not failing:
                log.warning("latest-forecast copies lapse: cannot read the projections: %r", exc)
            failing = True
        else:
            until = began + 2 * every
            cache.confirm(committed, until=until)
            if failing:
                log.info("latest-forecast copies confirmed again")
            failing = False
        # Readings start every ``every`` seconds however long one took, so that a slow
        # reading does not leave the copies unconfirmed (and every read a miss) meanwhile.
        await asyncio.sleep(max(0.0, began + every - cache.now()))


@contextlib.asynccontextmanager
async def watching(cache: LatestCache, reads: ReadModels, *, every: float) -> AsyncIterator[None]:
    """Run the watcher while the context is open."""
    task = asyncio.create_task(confirm_forever(cache, reads, every=every))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
