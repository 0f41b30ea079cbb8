"""An event log seen only up to a position: what a point-in-time replay reads.

Every page stops at ``until`` and the head is ``until``, so the runner drives a projection to
exactly that position and calls it caught up there; nothing stored later is ever handed over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from projections.log import EventLog, Page


class LogUntil:
    """``log`` cut after position ``until`` (inclusive)."""

    def __init__(self, log: EventLog, until: int) -> None:
        self._log = log
        self.until = until

    @property
    def name(self) -> str:
        return self._log.name

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        if after >= self.until:
            return Page((), after, True)
        page = await self._log.read(after, limit, topics)
        through = min(page.through, self.until)
        kept = [n for n in page.notifications if n.id <= through]
        return Page(kept, through, through >= self.until or page.at_head)

    async def head(self) -> int:
        return min(await self._log.head(), self.until)

    async def wait_for_news(self, after: int, within: float) -> None:
        if after >= self.until:
            await asyncio.sleep(within)  # nothing more will come inside the cut
        else:
            await self._log.wait_for_news(after, within)
