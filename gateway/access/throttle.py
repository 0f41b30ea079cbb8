"""Per-key budgets: requests per minute (the ``limits`` library) and open stream connections.

Storage defaults to this process's memory; ``async+redis://...`` shares the budget between
gateway processes (docs/adr). Connection counts are kept per process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from domain.access import Principal
from gateway.access.refusals import RateLimited, TooManyConnections


class RequestRate:
    def __init__(self, storage_uri: str = "async+memory://") -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def spend(self, principal: Principal) -> None:
        """Count one request against the caller's budget; 429 once it is spent."""
        item = self._item(principal.limits.requests_per_minute)
        if await self._limiter.hit(item, principal.subject):
            return
        stats = await self._limiter.get_window_stats(item, principal.subject)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"{principal.limits.requests_per_minute} requests per minute for {principal.subject}",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )


class OpenConnections:
    """How many long-lived connections (SSE streams) each caller holds in this process."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def count(self, principal: Principal) -> int:
        return self._open.get(principal.subject, 0)

    def take(self, principal: Principal) -> None:
        """Count one more open connection of the caller; 429 when it is at its limit."""
        held = self._open.get(principal.subject, 0)
        if held >= principal.limits.connections:
            raise TooManyConnections(
                f"{principal.subject} already holds {held} connections "
                f"(limit {principal.limits.connections})",
                headers={"Retry-After": "5"},
            )
        self._open[principal.subject] = held + 1

    def give_back(self, principal: Principal) -> None:
        left = self._open.get(principal.subject, 0) - 1
        if left > 0:
            self._open[principal.subject] = left
        else:
            self._open.pop(principal.subject, None)

    @contextmanager
    def hold(self, principal: Principal) -> Iterator[None]:
        """Hold one connection for the caller for the duration; 429 when at its limit."""
        self.take(principal)
        try:
            yield
        finally:
            self.give_back(principal)
