"""The access gate an app holds: authenticate, spend the rate budget, check the scope.

Routers use the dependencies in gateway.deps; the SSE streams call ``admit`` with the token
they were given and hold ``connections`` for as long as a stream is open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from domain.access import Principal, Scope
from gateway.access.authenticator import Authenticator
from gateway.access.refusals import InsufficientScope, NoProvider, NotAuthenticated
from gateway.access.throttle import OpenConnections, RequestRate


def presented_token(request: Request) -> str | None:
    """The credential a request carries: ``Authorization: Bearer`` first, else ``X-API-Key``."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return credentials.strip()
    return request.headers.get("x-api-key")


@dataclass
class AccessGate:
    authenticator: Authenticator
    rate: RequestRate = field(default_factory=RequestRate)
    connections: OpenConnections = field(default_factory=OpenConnections)

    async def admit(self, token: str | None, scope: Scope | None) -> Principal:
        """The caller behind ``token`` if it holds ``scope`` (None: any) and has budget left;
        else the 401/403/429 problem to answer with."""
        if not token:
            raise NotAuthenticated(
                "send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key: <API key>'"
            )
        principal = await self.authenticator.authenticate(token)
        await self.rate.spend(principal)
        if scope is None:
            return principal
        if not principal.has(scope):
            raise InsufficientScope(
                f"this needs scope {scope.value!r}; {principal.subject} holds "
                f"{sorted(s.value for s in principal.scopes) or 'none'}",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope.value}"'
                },
                required_scope=scope.value,
            )
        if scope is Scope.FEED_WRITE and principal.provider is None:
            raise NoProvider(f"{principal.subject} has feed:write but no feed provider bound")
        return principal
