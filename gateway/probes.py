"""Liveness and readiness for orchestrators: ``/healthz`` says the process serves HTTP;
``/readyz`` runs every readiness check and answers 503 problem+json with each reason when any
fails (a load balancer then sends the traffic elsewhere, the process is not restarted)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from gateway.ports import CheckResult, ReadinessCheck
from gateway.problems import Problem

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 2.0


class LivenessPublic(BaseModel):
    status: str


class CheckPublic(BaseModel):
    name: str
    ready: bool
    detail: str
    code: str | None = None
    """Stable, for monitors to match on, where the check names what is wrong."""


class ReadinessPublic(BaseModel):
    status: str
    checks: list[CheckPublic]


class NotReady(Problem):
    status = 503
    code = "not-ready"
    title = "The gateway is not ready for traffic"


async def _checks(request: Request) -> list[ReadinessCheck]:
    checks: list[ReadinessCheck] = request.app.state.readiness_checks
    return checks


ChecksDep = Annotated[list[ReadinessCheck], Depends(_checks)]


async def _run(check: ReadinessCheck) -> CheckPublic:
    try:
        result: CheckResult = await asyncio.wait_for(check.check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return CheckPublic(
            name=check.name, ready=False, detail=f"no answer within {CHECK_TIMEOUT_SECONDS} s"
        )
    except Exception as exc:
        return CheckPublic(name=check.name, ready=False, detail=f"{type(exc).__name__}: {exc}")
    return CheckPublic(
        name=check.name, ready=result.ready, detail=result.detail, code=result.code or None
    )


@router.get("/healthz", response_model=LivenessPublic)
async def healthz() -> LivenessPublic:
    return LivenessPublic(status="alive")


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"description": "not ready: problem+json with every check's reason"}},
)
async def readyz(checks: ChecksDep) -> ReadinessPublic:
    results = list(await asyncio.gather(*(_run(c) for c in checks)))
    failing = [r for r in results if not r.ready]
    if failing:
        raise NotReady(
            "; ".join(f"{r.name}: {r.detail}" for r in failing),
            headers={"Retry-After": "5"},
            checks=[r.model_dump() for r in results],
        )
    return ReadinessPublic(status="ready", checks=results)
