"""A bounded cache of aggregates as last saved by this process, lent out one caller at a time.

``take`` removes the entry, so no two threads ever decide on the same object, and a refused or
failed command cannot leave a half-changed aggregate behind: the caller gives back with
``put`` only what it saved (or left untouched). A second caller meanwhile reads the aggregate
from the store; an entry can also be stale when another process wrote since, and the event
store's concurrency check catches both at save time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from eventsourcing.domain import Aggregate


class AggregateCache:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        with self._lock:
            return self._entries.pop(aggregate_id, None)

    def put(self, aggregate: Aggregate) -> None:
        """Give back ``aggregate`` as saved (it must have no pending events left)."""
        if self.maxsize <= 0 or aggregate.pending_events:
            return
        with self._lock:
            self._entries[aggregate.id] = aggregate
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def drop(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._entries.pop(aggregate_id, None)
