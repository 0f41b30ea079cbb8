"""The live read side: events of the two JetStream logs as the SSE streams show them, and the
port the gateway's hub reads them through (infra implements it; the gateway consumes it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class LogUnavailable(ConnectionError):
    """The store did not answer while a log was followed or read (an outage, not a fault of
    the reader's): said once, without a traceback, and tried again."""


class Log(StrEnum):
    """The JetStream streams the gateway follows."""

    EVENTS = "events"  # SPORTCAST_EVENTS: fixtures, match events, odds
    FORECASTS = "forecasts"  # SPORTCAST_FORECASTS: issued forecasts


class Kind(StrEnum):
    FORECAST = "forecast"
    ODDS = "odds"
    MATCH_EVENT = "match-event"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a log, with the keys the filters use and its ``data:`` JSON encoded once."""

    seq: int
    """Its position in its JetStream stream."""
    kind: Kind
    type: str
    """The SSE event name (``forecast``, ``odds``, ``goal-scored``, ...)."""
    sport: str
    competition: str
    fixture: str
    model: str | None
    data: bytes
    """Compact JSON, one line."""
    trace: Mapping[str, str] | None = None
    """The W3C trace context the message was stored with (live events only)."""
    stored_ns: int = 0
    """When the server stored it, ns since the epoch (live events only; 0: unknown)."""


class EventLog(Protocol):
    """One JetStream stream as the SSE hub reads it: followed live, and read back on demand."""

    async def bounds(self) -> tuple[int, int]:
        """The stream's first and last sequence ((0, 0) while it is empty or missing)."""
        ...

    def follow(self, after: int) -> AsyncIterator[tuple[int, StreamEvent | None]]:
        """Every stored message after ``after``, in order, then live, forever: its sequence
        and the stream event it is (None: a message no stream shows)."""
        ...

    async def read(self, *, after: int, up_to: int, limit: int) -> tuple[list[StreamEvent], int]:
        """Stream events with ``after < seq <= up_to`` among at most ``limit`` messages, and the
        last sequence looked at (``up_to`` once all were)."""
        ...
