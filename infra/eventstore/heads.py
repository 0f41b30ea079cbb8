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


@dataclass(frozen=True, slots=True)
class TrackingState:
    """What one downstream application has recorded, known completely up to ``through``.

    ``notification_id`` is the highest position recorded (0: none), whether on the tracking
    subject or carried by an event message; ``subject_seq`` is the last sequence on the
    tracking subject (0: none). A save that records a position expects the stream's last
    sequence to be ``through``, so nothing it has not seen can slip in between.
    """

    notification_id: int
    subject_seq: int
    through: int


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
