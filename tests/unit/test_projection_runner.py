"""The runner's contract over an in-memory log and an in-memory view (the ports' doubles; the
PostgreSQL projections are tested against a real server in tests/integration)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from uuid import uuid4

import pytest
from eventsourcing.persistence import Notification

from projections.log import LogUnavailable, Page
from projections.projection import PositionMoved, Projection, StoreUnavailable
from projections.runner import ProjectionRunner
from projections.status import ProjectionState


class MemoryLog:
    def __init__(self, name: str, topics: Sequence[str]) -> None:
        self._name = name
        self.items = [
            Notification(
                id=i + 1, originator_id=uuid4(), originator_version=1, topic=t, state=b"{}"
            )
            for i, t in enumerate(topics)
        ]
        self.news = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    def append(self, topic: str) -> None:
        n = len(self.items) + 1
        self.items.append(
            Notification(
                id=n, originator_id=uuid4(), originator_version=1, topic=topic, state=b"{}"
            )
        )
        self.news.set()

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        head = len(self.items)
        wanted = [n for n in self.items[after:head] if not topics or n.topic in topics]
        if len(wanted) <= limit:
            return Page(wanted, head, True)
        page = wanted[:limit]
        return Page(page, page[-1].id, False)

    async def head(self) -> int:
        return len(self.items)

    async def wait_for_news(self, after: int, within: float) -> None:
        self.news.clear()
        if len(self.items) > after:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.news.wait(), within)


class MemoryView(Projection):
    def __init__(self, name: str, topics: tuple[str, ...], *, fail_on: int | None = None) -> None:
        self.name = name
        self.topics = {"events": topics}
        self.stored = 0
        self.applied: list[int] = []
        self.fail_on = fail_on
        self.unavailable_once = False
        self.failure: tuple[str, int, str] | None = None

    async def position(self, stream: str) -> int:
        return self.stored

    async def apply(self, stream: str, after: int, page: Page) -> None:
        if self.unavailable_once:
            self.unavailable_once = False
            raise StoreUnavailable("down for a moment")
        if self.stored != after:
            raise PositionMoved(self.stored)
        ids = [n.id for n in page.notifications]
        if self.fail_on in ids:
            raise ValueError(f"cannot apply {self.fail_on}")
        self.applied += ids  # rows and position together, as one transaction would
        self.stored = page.through

    async def record_failure(self, stream: str, position: int, error: str) -> None:
        self.failure = (stream, position, error)


async def run(
    views: list[MemoryView], log: MemoryLog, page: int = 3, *, share_reads: bool = False
) -> ProjectionRunner:
    runner = ProjectionRunner(views, {"events": log}, page_size=page, share_reads=share_reads)
    await runner.start()
    await runner.caught_up(5)
    return runner


async def test_every_wanted_event_is_applied_once_in_order_across_pages() -> None:
    log = MemoryLog("events", ["a", "b", "a", "a", "c", "a", "b"] * 3)
    view = MemoryView("v", ("a",))
    runner = await run([view], log)
    assert view.applied == [n.id for n in log.items if n.topic == "a"]
    assert view.stored == 21
    assert runner.statuses["v"].state == ProjectionState.LIVE
    log.append("a")
    assert await runner.wait_for({"events": 22}, 5)
    assert view.applied[-1] == 22
    await runner.stop()


async def test_a_restart_resumes_from_the_stored_position() -> None:
    log = MemoryLog("events", ["a"] * 10)
    view = MemoryView("v", ("a",))
    await (await run([view], log)).stop()
    for _ in range(5):
        log.append("a")
    await (await run([view], log)).stop()
    assert view.applied == list(range(1, 16))


async def test_a_failing_event_stops_its_projection_with_the_position_and_not_the_others() -> None:
    log = MemoryLog("events", ["a"] * 10)
    bad, good = MemoryView("bad", ("a",), fail_on=7), MemoryView("good", ("a",))
    runner = await run([bad, good], log, page=2)
    assert await runner.wait_for({"events": 10}, 5, names=["good"])
    status = runner.statuses["bad"]
    assert status.state == ProjectionState.FAILED
    assert status.failed_position == 6  # the failing page follows it
    assert "cannot apply 7" in (status.error or "")
    assert bad.failure == ("events", 6, status.error)
    assert bad.applied == [1, 2, 3, 4, 5, 6]
    assert good.applied == list(range(1, 11))
    assert not await runner.wait_for({"events": 10}, 1)  # a failed projection never gets there
    await runner.stop()


async def test_an_unavailable_store_is_retried_not_failed() -> None:
    log = MemoryLog("events", ["a"] * 5)
    view = MemoryView("v", ("a",))
    view.unavailable_once = True
    runner = await run([view], log)
    assert runner.statuses["v"].state == ProjectionState.LIVE
    assert view.applied == [1, 2, 3, 4, 5]
    await runner.stop()


async def test_a_position_moved_by_another_writer_is_followed_not_duplicated() -> None:
    log = MemoryLog("events", ["a"] * 4)
    view = MemoryView("v", ("a",))
    runner = await run([view], log)
    await runner.stop()
    view.stored = 8  # a rebuild switched in a schema that has gone further
    view.applied.extend([5, 6, 7, 8])
    for _ in range(6):
        log.append("a")
    runner = await run([view], log)
    assert view.applied == list(range(1, 11))
    await runner.stop()


def test_a_stream_without_a_log_is_refused() -> None:
    with pytest.raises(ValueError, match="no event log"):
        ProjectionRunner([MemoryView("v", ("a",))], {})


class CountingLog(MemoryLog):
    """Counts reads; the first ``unavailable`` reads fail as a server that is away would."""

    def __init__(self, name: str, topics: Sequence[str], *, unavailable: int = 0) -> None:
        super().__init__(name, topics)
        self.reads = 0
        self.unavailable = unavailable
        self.asked: set[tuple[str, ...]] = set()

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        self.reads += 1
        self.asked.add(tuple(sorted(topics)))
        if self.unavailable:
            self.unavailable -= 1
            raise LogUnavailable("away for a moment")
        await asyncio.sleep(0)  # a real read yields: the others ask meanwhile
        return await super().read(after, limit, topics)


async def test_projections_following_one_stream_share_each_read_and_apply_all_once() -> None:
    # 120 events, 100 of them a or b: 34 pages of 3 (c, which nobody follows, is not read).
    log = CountingLog("events", ["a", "b", "c", "a", "b", "a"] * 20)
    views = [MemoryView("va", ("a",)), MemoryView("vb", ("b",)), MemoryView("vab", ("a", "b"))]
    runner = await run(views, log, share_reads=True)
    for view, topics in zip(views, ("a", "b", "ab"), strict=True):
        assert view.applied == [n.id for n in log.items if n.topic in topics], view.name
        assert view.stored == 120
    # Each page read once for the three (not 3 x 34), give or take a read at the head.
    assert 34 <= log.reads <= 44, log.reads
    assert log.asked == {("a", "b")}
    log.append("b")  # a page that reached the head is not served again: the new event arrives
    assert await runner.wait_for({"events": 121}, 5)
    assert views[1].applied[-1] == views[2].applied[-1] == 121
    await runner.stop()


async def test_a_shared_read_that_fails_is_tried_again_for_everyone() -> None:
    log = CountingLog("events", ["a", "b"] * 10, unavailable=2)
    views = [MemoryView("va", ("a",)), MemoryView("vb", ("b",))]
    runner = await run(views, log, share_reads=True)
    assert views[0].applied == list(range(1, 21, 2))
    assert views[1].applied == list(range(2, 21, 2))
    await runner.stop()
