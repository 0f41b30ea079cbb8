"""The FastAPI application factory. Wiring (what the probes talk to) happens in infra.bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from commands.intake import FeedIntake
from gateway import feed_health as feed_health_api
from gateway import health
from gateway.ingest import router as ingest
from gateway.ports import StreamAccess, VersionProbe
from gateway.problems import install_problem_handlers
from gateway.streams import asyncapi
from gateway.streams import router as streams

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def create_app(
    *,
    version_probes: list[VersionProbe],
    feed_intake: FeedIntake | None = None,
    feed_tokens: dict[str, str] | None = None,
    feed_health: feed_health_api.FeedHealthReader | None = None,
    stream_access: StreamAccess | None = None,
    lifespan: Lifespan = _no_lifespan,
) -> FastAPI:
    """``feed_tokens`` maps each feed provider's bearer token to the provider's name.

    The SSE streams answer once the lifespan has put a started hub on ``app.state.stream_hub``
    (503 before); ``stream_access`` supplies each subscriber's entitlement (None: everything)."""
    app = FastAPI(title="sportcast", lifespan=lifespan)
    app.state.version_probes = version_probes
    app.state.feed_intake = feed_intake
    app.state.feed_tokens = dict(feed_tokens or {})
    app.state.feed_health = feed_health
    app.state.stream_access = stream_access
    app.state.stream_hub = None
    install_problem_handlers(app)
    app.include_router(health.router)
    if feed_intake is not None:
        app.include_router(ingest.router)
    app.include_router(feed_health_api.router)
    app.include_router(streams.router)
    app.include_router(asyncapi.router)
    return app
