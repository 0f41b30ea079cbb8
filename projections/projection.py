"""What the runner drives: a projection applies pages of events and stores its position with
its rows, atomically, in whatever store it writes (PostgreSQL here, DuckDB for analytics).

eventsourcing's ``Projection.process_event(event, tracking)`` is called once per event, each in
its own transaction; ours takes a page of up to thousands of notifications per transaction and
decodes only the fields it needs (docs/adr/0015 says where and why we depart).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from projections.log import Page


class PositionMoved(Exception):
    """The stored position is not the one the page follows: another writer (a rebuild switched
    in, a second runner) moved it. The runner re-reads it and carries on from there."""

    def __init__(self, stored: int) -> None:
        super().__init__(f"the stored position is {stored}")
        self.stored = stored


class StoreUnavailable(Exception):
    """The projection's own store could not be reached: retried, never a failed event."""


class Projection(ABC):
    name: str
    topics: Mapping[str, tuple[str, ...]]
    """Per stream followed, the event topics wanted (empty: every topic)."""

    async def open(self) -> None:  # noqa: B027 (optional hook)
        """Connect and migrate; called once before anything else."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""

    @abstractmethod
    async def position(self, stream: str) -> int:
        """The committed position in ``stream`` (0: nothing applied)."""

    @abstractmethod
    async def apply(self, stream: str, after: int, page: Page) -> None:
        """Apply ``page`` (which follows position ``after``) and store ``page.through`` as the
        position, atomically. Raises PositionMoved if the stored position is not ``after``,
        StoreUnavailable if the store cannot be reached, anything else if an event cannot be
        applied (the runner then stops this projection and reports it)."""

    async def record_failure(  # noqa: B027 (optional hook)
        self, stream: str, position: int, error: str
    ) -> None:
        """Keep the failure where `sportcast projections status` finds it (best effort)."""

    async def clear_failure(self) -> None:  # noqa: B027 (optional hook)
        """Forget a recorded failure once the projection has moved past it."""
