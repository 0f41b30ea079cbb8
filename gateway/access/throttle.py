"""Per-key budgets: requests per minute and open stream connections.

Requests are counted in this process by default: a token bucket per caller holding
``requests_per_minute`` tokens, refilled evenly over the minute (a burst of a full minute's
budget, then the steady rate). It costs a few dict operations per request, where the ``limits``
library's sliding window through its async storage layer cost about a third of a cached
latest-forecast answer (docs/adr/0029). With several gateway processes each keeps its own
buckets, so a key may spend its budget once per process; a shared storage URI
(``async+redis://...``, the ``limits`` library) counts across processes at a round trip per
request. Connection counts are kept per process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from domain.access import Principal
from gateway.access.refusals import RateLimited, TooManyConnections

IN_PROCESS = ("async+memory://", "memory://")
"""Storage URIs that mean "this process": counted by ``TokenBuckets``."""

_BUCKETS_MAX = 100_000


class TokenBuckets:
    """One bucket per caller in this process: ``take`` spends a token if there is one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # subject -> [tokens, refilled at]

    def take(self, subject: str, per_minute: int) -> float:
        """0 when a token was spent, else the seconds until the next one."""
        now = self._clock()
        bucket = self._buckets.get(subject)
        if bucket is None:
            if len(self._buckets) >= _BUCKETS_MAX:  # many callers gone: start over, generously
                self._buckets.clear()
            bucket = self._buckets[subject] = [float(per_minute), now]
        else:
            bucket[0] = min(float(per_minute), bucket[0] + (now - bucket[1]) * per_minute / 60)
            bucket[1] = now
        if bucket[0] >= 1:
            bucket[0] -= 1
            return 0.0
        return (1 - bucket[0]) * 60 / per_minute


class RequestRate:
    def __init__(self, storage_uri: str = "async+memory://") -> None:
        self._buckets = TokenBuckets() if storage_uri in IN_PROCESS else None
        self._limiter = (
            None
            if self._buckets is not None
            else SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))
        )
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    def try_spend(self, principal: Principal) -> bool | None:
        """Without waiting: True when a request was counted, False when the budget is spent,
        None when the count is kept elsewhere (a shared storage: use ``spend``)."""
        if self._buckets is None:
            return None
        return not self._buckets.take(principal.subject, principal.limits.requests_per_minute)

    async def spend(self, principal: Principal) -> None:
        """Count one request against the caller's budget; 429 once it is spent."""
        per_minute = principal.limits.requests_per_minute
        if self._buckets is not None:
            wait = self._buckets.take(principal.subject, per_minute)
            if not wait:
                return
        else:
            assert self._limiter is not None
            item = self._item(per_minute)
            if await self._limiter.hit(item, principal.subject):
                return
            stats = await self._limiter.get_window_stats(item, principal.subject)
            wait = stats.reset_time - time.time()
        retry_after = max(1, math.ceil(wait))
        raise RateLimited(
            f"{per_minute} requests per minute for {principal.subject}",
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
