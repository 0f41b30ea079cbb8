"""The projection runner: drives each projection over the streams it follows, exactly once.

One asyncio task per projection. Each round reads a page per stream after the projection's
position (the next page is read while the current one is written), applies it in one
transaction together with the new position, and, once every stream is at its head, waits for
news. A projection that fails on an event stops there, with the error and its position in its
status; the others go on. A store that cannot be reached is retried, never taken as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from functools import partial
from typing import TypeVar

from projections.log import EventLog, LogUnavailable, Page
from projections.projection import PositionMoved, Projection, StoreUnavailable
from projections.shared_log import SharedLog
from projections.status import ProjectionState, ProjectionStatus, StreamProgress

log = logging.getLogger("sportcast.projections")

DEFAULT_PAGE = 5000
IDLE_WAIT = 1.0  # seconds between head checks when no wake-up comes
RETRY_WAIT = (0.1, 0.5, 1.0, 2.0, 5.0)
T = TypeVar("T")


class ProjectionRunner:
    def __init__(
        self,
        projections: Sequence[Projection],
        logs: Mapping[str, EventLog],
        *,
        page_size: int = DEFAULT_PAGE,
        clock: Callable[[], float] = time.monotonic,
        share_reads: bool = False,
    ) -> None:
        """``share_reads``: a stream several projections follow is read once for all of them
        (shared_log.py); off by default (measured no better on the whole dataset, ADR 0033)."""
        missing = {s for p in projections for s in p.topics if s not in logs}
        if missing:
            raise ValueError(f"no event log for stream(s) {sorted(missing)}")
        self.projections = list(projections)
        followers = Counter(s for p in projections for s in p.topics)
        self.logs: dict[str, EventLog] = {
            name: SharedLog(log, topics=_wanted(projections, name))
            if share_reads and followers[name] > 1
            else log
            for name, log in logs.items()
        }
        self.page_size = page_size
        self.clock = clock
        self.statuses = {
            p.name: ProjectionStatus(p.name, streams={s: StreamProgress() for s in p.topics})
            for p in self.projections
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Condition()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        for projection in self.projections:
            self._tasks.append(
                asyncio.create_task(self._run(projection), name=f"projection-{projection.name}")
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for status in self.statuses.values():
            if status.state != ProjectionState.FAILED:
                status.state = ProjectionState.STOPPED

    async def __aenter__(self) -> ProjectionRunner:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- what others ask ------------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        now = self.clock()
        return [s.as_dict(now) for s in self.statuses.values()]

    @property
    def failed(self) -> list[ProjectionStatus]:
        return [s for s in self.statuses.values() if s.state == ProjectionState.FAILED]

    async def wait_for(
        self, targets: Mapping[str, int], within: float, *, names: Collection[str] | None = None
    ) -> bool:
        """True once every projection (of ``names``, default all) following a stream in
        ``targets`` has applied it up to the given position; False after ``within`` seconds
        or if one of them failed."""

        def reached() -> bool | None:
            for status in self.statuses.values():
                if names is not None and status.name not in names:
                    continue
                for stream, wanted in targets.items():
                    progress = status.streams.get(stream)
                    if progress is None or (
                        progress.position >= wanted and status.state != ProjectionState.STARTING
                    ):
                        continue
                    if status.state in (ProjectionState.FAILED, ProjectionState.STOPPED):
                        return None
                    return False
            return True

        async with self._progress:
            try:
                async with asyncio.timeout(within):
                    await self._progress.wait_for(lambda: reached() is not False)
            except TimeoutError:
                return False
            return reached() is True

    async def caught_up(self, within: float) -> bool:
        """Wait until every projection is live at the heads as they are now (or failed)."""
        heads = {name: await log.head() for name, log in self.logs.items()}
        return await self.wait_for(heads, within)

    # -- one projection -------------------------------------------------------------------

    async def _run(self, projection: Projection) -> None:
        status = self.statuses[projection.name]
        try:
            await self._retrying(projection.open)
            for stream in projection.topics:
                position = await self._retrying(partial(projection.position, stream))
                status.streams[stream].position = position
            await self._follow(projection, status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an event the projection cannot apply, or a broken log
            await self._fail(projection, status, exc)
        finally:
            with contextlib.suppress(Exception):
                await projection.close()

    async def _follow(self, projection: Projection, status: ProjectionStatus) -> None:
        reads: dict[str, tuple[int, asyncio.Task[Page]]] = {}
        had_failure = True  # a failure recorded by an earlier run is cleared on first progress
        try:
            while True:
                moved = False
                for stream, topics in projection.topics.items():
                    progress = status.streams[stream]
                    page = await self._page(reads, stream, topics, progress.position)
                    if page.through > progress.position:
                        # Read ahead while this page is written.
                        reads[stream] = (page.through, self._read(stream, topics, page.through))
                        try:
                            await self._apply(projection, stream, progress.position, page)
                        except PositionMoved as moved_to:
                            log.info("%s: position moved to %s", projection.name, moved_to.stored)
                            progress.position = moved_to.stored
                            continue
                        except (asyncio.CancelledError, StoreUnavailable):
                            raise
                        except Exception as exc:
                            raise FailedOn(stream, progress.position, exc) from exc
                        progress.position = page.through
                        status.events_applied += len(page.notifications)
                        moved = True
                        if had_failure:
                            await projection.clear_failure()
                            had_failure = False
                    self._note_head(progress, page)
                await self._announce(status)
                if not moved:
                    await self._wait_for_news(status)
        finally:
            for _, task in reads.values():
                task.cancel()

    def _read(self, stream: str, topics: Sequence[str], after: int) -> asyncio.Task[Page]:
        log_ = self.logs[stream]
        return asyncio.create_task(self._retrying(lambda: log_.read(after, self.page_size, topics)))

    async def _page(
        self,
        reads: dict[str, tuple[int, asyncio.Task[Page]]],
        stream: str,
        topics: Sequence[str],
        after: int,
    ) -> Page:
        ahead = reads.pop(stream, None)
        if ahead is not None:
            if ahead[0] == after:
                return await ahead[1]
            ahead[1].cancel()
        log_ = self.logs[stream]
        return await self._retrying(lambda: log_.read(after, self.page_size, topics))

    async def _apply(self, projection: Projection, stream: str, after: int, page: Page) -> None:
        attempt = 0
        while True:
            try:
                await projection.apply(stream, after, page)
                return
            except StoreUnavailable as exc:
                log.warning("%s: store unavailable (%s), retrying", projection.name, exc)
                await asyncio.sleep(RETRY_WAIT[min(attempt, len(RETRY_WAIT) - 1)])
                attempt += 1

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` until neither the store nor the log is unavailable (both come back)."""
        attempt = 0
        while True:
            try:
                return await call()
            except (StoreUnavailable, LogUnavailable) as exc:
                log.warning("unavailable (%s), retrying", exc)
                await asyncio.sleep(RETRY_WAIT[min(attempt, len(RETRY_WAIT) - 1)])
                attempt += 1

    def _note_head(self, progress: StreamProgress, page: Page) -> None:
        if page.at_head and progress.position >= page.through:
            progress.head = max(progress.head, page.through)
            progress.behind_since = None
        else:
            progress.head = max(progress.head, page.through, progress.position + 1)
            if progress.behind_since is None:
                progress.behind_since = self.clock()

    async def _announce(self, status: ProjectionStatus) -> None:
        behind = any(p.behind_since is not None for p in status.streams.values())
        status.state = ProjectionState.CATCHING_UP if behind else ProjectionState.LIVE
        async with self._progress:
            self._progress.notify_all()

    async def _wait_for_news(self, status: ProjectionStatus) -> None:
        waits = [
            asyncio.create_task(self.logs[s].wait_for_news(p.position, IDLE_WAIT))
            for s, p in status.streams.items()
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _fail(self, projection: Projection, status: ProjectionStatus, exc: Exception) -> None:
        if isinstance(exc, FailedOn):
            stream, position, cause = exc.stream, exc.position, exc.cause
        else:  # before any event: migrations, the first positions, a log that cannot be read
            stream = next(iter(projection.topics))
            progress = status.streams.get(stream)
            position, cause = (progress.position if progress else 0), exc
        error = f"{type(cause).__name__}: {cause}"
        log.error("projection %s failed after %s %s: %s", projection.name, stream, position, error)
        status.state = ProjectionState.FAILED
        status.error = error
        status.failed_stream = stream
        status.failed_position = position
        with contextlib.suppress(Exception):
            await projection.record_failure(stream, position, error)
        async with self._progress:
            self._progress.notify_all()


def _wanted(projections: Sequence[Projection], stream: str) -> tuple[str, ...]:
    """Every topic of ``stream`` its followers want; empty if one wants every topic."""
    wanted: dict[str, None] = {}
    for p in projections:
        topics = p.topics.get(stream)
        if topics is None:
            continue
        if not topics:
            return ()
        wanted.update(dict.fromkeys(topics))
    return tuple(wanted)


class FailedOn(Exception):
    """A page after ``position`` in ``stream`` could not be applied."""

    def __init__(self, stream: str, position: int, cause: Exception) -> None:
        super().__init__(f"{stream} after {position}: {cause!r}")
        self.stream = stream
        self.position = position
        self.cause = cause
