"""The streams' access control (the ``StreamAccess`` port of gateway.streams) on the access gate:
the same credentials, scope ``forecasts:read``, the caller's plan as the stream's entitlement,
and one of the caller's connections held for as long as the stream is open."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from domain.access import Plan, Principal
from domain.access import Scope as AccessScope
from gateway.access.gate import AccessGate, presented_token

TOKEN_QUERY = "access_token"  # noqa: S105 - the parameter's name, not a secret
"""For EventSource clients, which cannot set headers (RFC 6750 §2.3; prefer a header)."""


@dataclass(frozen=True)
class PlanEntitlement:
    plan: Plan

    def covers(self, sport: str, competition: str) -> bool:
        return self.plan.allows(sport, competition)


class _Held(Response):
    """The stream's response, giving the caller's connection back however it ends."""

    def __init__(self, inner: Response, gate: AccessGate, principal: Principal) -> None:
        self._inner, self._gate, self._principal = inner, gate, principal
        self.status_code = inner.status_code
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._inner(scope, receive, send)
        finally:
            self._gate.connections.give_back(self._principal)


@dataclass(frozen=True)
class GateStreamAccess:
    gate: AccessGate

    async def entitlement(self, request: Request) -> PlanEntitlement:
        token = presented_token(request) or request.query_params.get(TOKEN_QUERY)
        principal = await self.gate.admit(token, AccessScope.FORECASTS_READ)
        self.gate.connections.take(principal)  # 429 beyond the key's limit
        request.state.stream_principal = principal
        return PlanEntitlement(principal.plan)

    def held(self, request: Request, response: Response) -> Response:
        """Called by the streams with the response ``entitlement`` admitted."""
        return _Held(response, self.gate, request.state.stream_principal)
