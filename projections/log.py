"""The port a projection reads through: one append-only, totally ordered event stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import Notification


@dataclass(frozen=True)
class Page:
    """What a read returns: the notifications of the wanted topics with ids in
    (after, through], in order. ``through`` may pass the last notification's id (events of
    other topics were skipped); ``at_head`` says the read reached the stream's end."""

    notifications: Sequence[Notification]
    through: int
    at_head: bool


class EventLog(Protocol):
    """One stream of notifications (eventsourcing's ``Notification``: id, originator id and
    version, topic, stored state). Implemented in infra over JetStream."""

    @property
    def name(self) -> str:
        """The stream's name as projections know it (e.g. ``events``, ``forecasts``)."""
        ...

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        """Up to ``limit`` notifications after ``after`` (``topics`` empty: every topic)."""
        ...

    async def head(self) -> int:
        """The id of the newest notification in the stream (0 when empty)."""
        ...

    async def wait_for_news(self, after: int, within: float) -> None:
        """Return once the stream may hold notifications after ``after``, or after
        ``within`` seconds, whichever comes first."""
        ...


class LogUnavailable(Exception):
    """The stream could not be read just now (server down, timed out): the runner retries."""
