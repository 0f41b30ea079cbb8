"""Request dependencies as ``Annotated`` aliases: who the caller is, what the app holds.

All are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, which cost
more than the whole rest of a cached read (profiled with benchmarks/bench_rest.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from domain.access import Principal, Scope
from gateway.access.gate import AccessGate
from gateway.api.ports import ReadModels
from gateway.api.read_after import DEFAULT_WAIT, MaxWaitParam, MinPositionParam, read_after
from gateway.problems import ServiceUnavailable

_bearer = HTTPBearer(auto_error=False, description="An API key (sc_...) or an OAuth2 JWT.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (sc_...).")


async def access_gate(request: Request) -> AccessGate:
    gate: AccessGate = request.app.state.access
    return gate


GateDep = Annotated[AccessGate, Depends(access_gate)]


SECURITY_OPENAPI: dict[str, Any] = {"security": [{"HTTPBearer": []}, {"APIKeyHeader": []}]}
"""For a hot route that calls the gate itself (``presented_token``) instead of depending on
``requires``: the same security requirements in the OpenAPI document."""


def requires(scope: Scope | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers that hold ``scope`` (any authenticated caller for None);
    401/403/429 problem+json otherwise."""

    async def admitted(
        gate: GateDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        api_key: Annotated[str | None, Security(_api_key)],
    ) -> Principal:
        token = bearer.credentials if bearer is not None else api_key
        return await gate.admit(token, scope)

    return admitted


Caller = Annotated[Principal, Depends(requires(None))]
Reader = Annotated[Principal, Depends(requires(Scope.FORECASTS_READ))]
FeedWriter = Annotated[Principal, Depends(requires(Scope.FEED_WRITE))]
Auditor = Annotated[Principal, Depends(requires(Scope.AUDIT_READ))]
Admin = Annotated[Principal, Depends(requires(Scope.ADMIN))]


async def read_models(request: Request) -> ReadModels:
    reads: ReadModels | None = getattr(request.app.state, "read_models", None)
    if reads is None:
        raise ServiceUnavailable("the read models are not connected", service="read-models")
    return reads


async def read_models_after(
    request: Request, min_position: MinPositionParam = None, max_wait: MaxWaitParam = DEFAULT_WAIT
) -> ReadModels:
    """The read models, once they have applied ``min_position`` if the read asks to read its
    writes (gateway.api.read_after). Routes declare it after their caller, so a wait is only
    ever made for a caller already admitted."""
    reads = await read_models(request)
    await read_after(request, min_position, max_wait)
    return reads


ReadModelsDep = Annotated[ReadModels, Depends(read_models_after)]
