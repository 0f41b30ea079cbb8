"""What the gateway needs from the outside, as protocols; the composition root supplies them.
(The feed intake port is the application layer's: commands/intake.py; the streams' upstream
port is the read side's: readmodels/live.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from gateway.streams.filters import Entitlement


class VersionProbe(Protocol):
    """Reports the version of one backing service, raising if it cannot be reached."""

    name: str

    async def version(self) -> str: ...


class StreamAccess(Protocol):
    """Access control for the streams: who may subscribe, and what their plan covers."""

    async def entitlement(self, request: Request) -> Entitlement | None:
        """What the caller may see (None: everything); raises a Problem (401/403/429) to
        refuse the subscription."""
        ...


@dataclass(frozen=True)
class CheckResult:
    """One readiness check's verdict; ``detail`` says why (shown in /readyz either way)."""

    ready: bool
    detail: str
    code: str = ""
    """A stable name for what is wrong (empty: none given), for monitors that match on it."""


class ReadinessCheck(Protocol):
    """Something the gateway needs before it should get traffic: NATS, PostgreSQL, projections
    caught up, the event streams' configuration untouched. Raising counts as not ready."""

    name: str

    async def check(self) -> CheckResult: ...


@dataclass(frozen=True)
class FeedProviderIdentity:
    """Who sent a feed message: the provider's name (the events' provenance source) and the
    bookmakers, besides itself, whose prices it may relay."""

    name: str
    bookmakers: frozenset[str] = frozenset()

    def may_quote_for(self, bookmaker: str) -> bool:
        return bookmaker == self.name or bookmaker in self.bookmakers


class StoreStatus(Protocol):
    """Whether the event store can be reached now (ingest answers 503 at once when not)."""

    def reachable(self) -> bool: ...

    def is_outage(self, error: BaseException) -> bool:
        """Whether ``error`` says the store could not be reached (503, not a fault: 500)."""
        ...
