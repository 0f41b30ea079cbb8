"""The FastAPI application factory. Wiring (what the probes talk to) happens in infra.bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from gateway import health
from gateway.ports import VersionProbe
from gateway.problems import install_problem_handlers

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def create_app(*, version_probes: list[VersionProbe], lifespan: Lifespan = _no_lifespan) -> FastAPI:
    app = FastAPI(title="sportcast", lifespan=lifespan)
    app.state.version_probes = version_probes
    install_problem_handlers(app)
    app.include_router(health.router)
    return app
