"""Liveness and readiness: /health answers 200 with backing-service versions, 503 otherwise."""

from __future__ import annotations

import importlib.metadata
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from gateway.ports import VersionProbe
from gateway.problems import ServiceUnavailable

router = APIRouter(tags=["health"])


class ServiceStatus(BaseModel):
    version: str


class HealthPublic(BaseModel):
    status: str
    sportcast: str
    services: dict[str, ServiceStatus]


def _probes(request: Request) -> list[VersionProbe]:
    probes: list[VersionProbe] = request.app.state.version_probes
    return probes


ProbesDep = Annotated[list[VersionProbe], Depends(_probes)]


@router.get("/health", response_model=HealthPublic)
async def health(probes: ProbesDep) -> HealthPublic:
    services: dict[str, ServiceStatus] = {}
    for probe in probes:
        try:
            services[probe.name] = ServiceStatus(version=await probe.version())
        except Exception as exc:
            raise ServiceUnavailable(
                f"{probe.name} is not reachable: {exc!r}", service=probe.name
            ) from exc
    return HealthPublic(
        status="ok", sportcast=importlib.metadata.version("sportcast"), services=services
    )
