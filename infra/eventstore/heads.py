"""The last known event of each aggregate: what a new event must chain to and expect.

Entries come only from acknowledged writes and from reads, and an aggregate's head only moves
forward, so a cached head is never wrong, only possibly old (then the server refuses the write
and the head is read afresh).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Head:
    version: int
    seq: int
    hash: str


class Heads:
    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._heads: OrderedDict[str, Head] = OrderedDict()

    def get(self, subject: str) -> Head | None:
        return self._heads.get(subject)

    def advance(self, subject: str, head: Head) -> None:
        known = self._heads.get(subject)
        if known is None or head.seq > known.seq:
            self._heads[subject] = head
            self._heads.move_to_end(subject)
            if len(self._heads) > self._capacity:
                self._heads.popitem(last=False)
