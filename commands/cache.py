"""A bounded cache of aggregates as last saved by this process.

Callers get a private copy (deciding a command mutates the aggregate, and a refused or failed
save must not leave that mutation behind). An entry can be stale when another process wrote
since; the event store's concurrency check catches that at save time and the caller drops it.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from uuid import UUID

from eventsourcing.domain import Aggregate


class AggregateCache:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        with self._lock:
            found = self._entries.get(aggregate_id)
            if found is None:
                return None
            self._entries.move_to_end(aggregate_id)
        return copy.deepcopy(found)

    def put(self, aggregate: Aggregate) -> None:
        """Keep ``aggregate`` as saved (it must have no pending events left)."""
        if self.maxsize <= 0:
            return
        kept = copy.deepcopy(aggregate)
        with self._lock:
            self._entries[aggregate.id] = kept
            self._entries.move_to_end(aggregate.id)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def drop(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._entries.pop(aggregate_id, None)
