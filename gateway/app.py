"""The FastAPI application factory. Wiring (what the probes talk to) happens in infra.bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from uuid import UUID

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from commands.intake import FeedIntake
from gateway import feed_health as feed_health_api
from gateway import health, metrics, probes
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.api import audit, fixtures, forecasts, me, odds, track_record
from gateway.api import feed_health as feed_health_v1
from gateway.api.latest import Latest, LatestCache
from gateway.api.latest_fast import LatestFastPath
from gateway.api.ports import ReadModels
from gateway.dashboard import router as dashboard
from gateway.ingest import router as ingest
from gateway.ingest.openapi import install_feed_schemas
from gateway.ports import ReadinessCheck, StoreStatus, StreamAccess, VersionProbe
from gateway.problems import install_problem_handlers
from gateway.streams import asyncapi
from gateway.streams import router as streams
from gateway.streams.entry import PREFIX as STREAMS
from gateway.streams.entry import opened

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class Gateway(FastAPI):
    """FastAPI with the hottest read answered before anything else: a kept latest-forecasts
    copy for an admitted caller (gateway.api.latest_fast); then the streams, opened ahead of
    FastAPI's middleware stack (gateway.streams.entry); every other request is FastAPI's."""

    latest_fast_path: LatestFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.latest_fast_path
        if fast is not None and await fast.answer(scope, send):
            return
        if scope["type"] == "http" and scope["path"].startswith(STREAMS):
            # A stream keeps its coroutine's stack for hours: opened here, ahead of FastAPI's
            # middleware stack, it holds a handful of frames (gateway.streams.entry).
            response = await opened(self, scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def create_app(
    *,
    version_probes: list[VersionProbe],
    feed_intake: FeedIntake | None = None,
    feed_tokens: dict[str, str] | None = None,
    feed_bookmakers: dict[str, list[str]] | None = None,
    store_status: StoreStatus | None = None,
    feed_health: feed_health_api.FeedHealthReader | None = None,
    stream_access: StreamAccess | None = None,
    access: AccessGate | None = None,
    readiness_checks: list[ReadinessCheck] | None = None,
    read_models: ReadModels | None = None,
    latest_cache_seconds: float = 10.0,
    lifespan: Lifespan = _no_lifespan,
) -> Gateway:
    """``access`` authenticates every caller; without one, only ``feed_tokens`` (each feed
    provider's bearer token mapped to the provider's name) are accepted.
    ``feed_bookmakers`` maps each provider to the bookmakers it may relay prices for;
    ``store_status``: ingest answers 503 at once while the store is unreachable.

    The SSE streams answer once the lifespan has put a started hub on ``app.state.stream_hub``
    (503 before); ``stream_access`` supplies each subscriber's entitlement (None: everything)."""
    # FastAPI's own request and operation spans (its native telemetry, on as soon as a tracer
    # provider is installed) are off: ours carry the trace from the caller's headers
    # (gateway/ingest/tracing.py), and FastAPI's, in traces of their own, cost ~0.6 ms of CPU
    # per ingested quote (~1.2x; benchmarks/bench_tracing.py). Its request metrics stay.
    app = Gateway(title="sportcast", lifespan=lifespan, telemetry={"tracing": False})
    app.state.version_probes = version_probes
    app.state.feed_intake = feed_intake
    app.state.feed_bookmakers = dict(feed_bookmakers or {})
    app.state.store_status = store_status
    app.state.feed_health = feed_health
    app.state.stream_access = stream_access
    app.state.stream_hub = None
    app.state.access = access or AccessGate(Authenticator(feed_tokens=feed_tokens))
    app.state.readiness_checks = list(readiness_checks or [])
    app.state.read_models = read_models
    app.state.latest_cache = LatestCache(latest_cache_seconds)

    async def refill(fixture_id: UUID) -> Latest | None:
        reads: ReadModels | None = app.state.read_models  # set by the lifespan, maybe later
        return None if reads is None else await reads.latest_forecasts_of(fixture_id)

    app.state.latest_cache.refills_from(refill)
    app.latest_fast_path = LatestFastPath(app.state.latest_cache, app.state.access)
    install_problem_handlers(app)
    # Routes are matched in order: the hottest read (latest forecasts) is tried first.
    app.include_router(forecasts.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(probes.router)
    for api in (me, fixtures, odds, track_record, feed_health_v1, audit):
        app.include_router(api.router)
    if feed_intake is not None:
        app.include_router(ingest.router)
        install_feed_schemas(app)
    app.include_router(feed_health_api.router)
    app.include_router(streams.router)
    app.include_router(asyncapi.router)
    dashboard.mount(app)
    return app
