"""GET /v1/me: what the presented credentials may do and see."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.deps import Caller

router = APIRouter(prefix="/v1", tags=["access"])


class MePublic(BaseModel):
    subject: str
    scopes: list[str]
    plan: list[str]
    provider: str | None
    requests_per_minute: int
    connections: int


@router.get("/me", response_model=MePublic)
async def me(principal: Caller) -> MePublic:
    return MePublic(
        subject=principal.subject,
        scopes=sorted(s.value for s in principal.scopes),
        plan=principal.plan.entries(),
        provider=principal.provider,
        requests_per_minute=principal.limits.requests_per_minute,
        connections=principal.limits.connections,
    )
