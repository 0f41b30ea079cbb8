"""One read of a stream for every projection that follows it.

A log's topic filter is applied after the read (JetStream's subjects do not carry the topic), so
three projections following the feed each reading their own topics read the whole feed three
times. Wrapped in a SharedLog, a stream is read in pages of the topics any of its followers
wants (others, e.g. command receipts, are skipped before a notification is made); a page is
kept for the other projections, which take their topics from it. Projections that start from
the same position stay on the same page boundaries (a page ends where the read ended, whatever
the topics), so a rebuild reads each page once. A page that reached the head is shared only by the
reads already waiting for it: one asked later must see what was stored since.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from projections.log import EventLog, Page


class SharedLog:
    def __init__(self, log: EventLog, *, keep: int = 8, topics: Sequence[str] = ()) -> None:
        """``topics``: every topic a follower wants (empty: every topic)."""
        self._log = log
        self._keep = keep
        self._topics = tuple(topics)
        self._pages: OrderedDict[tuple[int, int], asyncio.Future[Page]] = OrderedDict()
        self.reads = 0
        """Reads of the wrapped log (for tests and benchmarks)."""

    @property
    def name(self) -> str:
        return self._log.name

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        page = await asyncio.shield(self._page(after, limit))
        wanted = set(topics)
        if not topics or (self._topics and wanted.issuperset(self._topics)):
            return page
        kept = [n for n in page.notifications if n.topic in wanted]
        return Page(kept, page.through, page.at_head)

    def _page(self, after: int, limit: int) -> asyncio.Future[Page]:
        key = (after, limit)
        found = self._pages.get(key)
        if found is not None:
            self._pages.move_to_end(key)
            return found
        self.reads += 1
        read = asyncio.ensure_future(self._log.read(after, limit, self._topics))
        self._pages[key] = read
        read.add_done_callback(lambda done: self._settled(key, done))
        while len(self._pages) > self._keep:
            self._pages.popitem(last=False)
        return read

    def _settled(self, key: tuple[int, int], read: asyncio.Future[Page]) -> None:
        """Forget a failed read (the next one tries again) and one that reached the head."""
        stale = read.cancelled() or read.exception() is not None or read.result().at_head
        if stale and self._pages.get(key) is read:
            del self._pages[key]

    async def head(self) -> int:
        return await self._log.head()

    async def wait_for_news(self, after: int, within: float) -> None:
        await self._log.wait_for_news(after, within)
