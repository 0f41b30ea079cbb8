"""The streams' access control (the ``StreamAccess`` port of gateway.streams) on the access gate:
the same credentials, scope ``forecasts:read``, the caller's plan as the stream's entitlement,
and one of the caller's connections held for as long as the stream is open."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from domain.access import Plan
from domain.access import Scope as AccessScope
from gateway.access.gate import AccessGate, presented_token

TOKEN_QUERY = "access_token"  # noqa: S105 - the parameter's name, not a secret
"""For EventSource clients, which cannot set headers (RFC 6750 §2.3; prefer a header)."""


@dataclass(frozen=True)
class PlanEntitlement:
    plan: Plan

    def covers(self, sport: str, competition: str) -> bool:
        return self.plan.allows(sport, competition)


@dataclass(frozen=True)
class GateStreamAccess:
    gate: AccessGate

    async def entitlement(self, request: Request) -> PlanEntitlement:
        token = presented_token(request) or request.query_params.get(TOKEN_QUERY)
        principal = await self.gate.admit(token, AccessScope.FORECASTS_READ)
        self.gate.connections.take(principal)  # 429 beyond the key's limit
        request.state.stream_principal = principal
        return PlanEntitlement(principal.plan)

    def held(self, request: Request) -> Callable[[], None]:
        """What gives back the connection ``entitlement`` took for this request (called by the
        streams once, when the stream is over however it ended)."""
        return functools.partial(self.gate.connections.give_back, request.state.stream_principal)
