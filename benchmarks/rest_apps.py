"""The ASGI apps bench_rest.py serves with uvicorn: the gateway's REST API as built for
production (access gate with API keys in PostgreSQL, read models over asyncpg), and two peers.

Each is a module-level factory reading ``BENCH_POSTGRES_URL`` so that uvicorn's ``--workers``
can import it in every worker process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commands.api_keys import KeyRecord
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.api.latest import LatestCache, answer, answer_headers
from gateway.api.latest_fast import FastAnswers
from gateway.api.latest_watch import watching
from gateway.app import create_app
from infra.access.keystore import PostgresKeyStore
from infra.connections import create_pool, listening, own_pool
from infra.telemetry import configure_metrics
from readmodels.postgres.api_queries import ReadModelQueries
from readmodels.postgres.positions import CHANNEL as COMMITS_CHANNEL
from readmodels.postgres.queries import ForecastRow


@asynccontextmanager
async def _pool() -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(
        os.environ["BENCH_POSTGRES_URL"], min_size=2, max_size=8, reset_sessions=False
    )
    try:
        yield pool
    finally:
        await pool.close()


def tell_fast_answers(directory: Path, cache: LatestCache) -> None:
    """On SIGUSR1 (bench_rest's hit rate): write ``<nonce> <fast answers so far> <drops so
    far>`` to ``directory/<pid>``, the nonce being what bench_rest wrote to
    ``directory/nonce`` (a drop: a commit notice or a reading that dropped copies)."""
    nonce = (directory / "nonce").read_text().strip()
    (directory / str(os.getpid())).write_text(f"{nonce} {FastAnswers.count} {cache.epoch}")


class _LateKeys:
    """The key store, once the lifespan has opened the pool (the app is built before)."""

    store: PostgresKeyStore | None = None

    async def find(self, short: str) -> KeyRecord | None:
        assert self.store is not None
        return await self.store.find(short)


def gateway() -> FastAPI:
    """Built as ``infra.bootstrap.build_gateway`` builds it: with the process's meter provider
    configured (``BENCH_TELEMETRY=0``: without), so FastAPI meters the requests it routes."""
    if os.environ.get("BENCH_TELEMETRY", "1") != "0":
        configure_metrics("sportcast-gateway")
    keys = _LateKeys()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = os.environ["BENCH_POSTGRES_URL"]
        async with _pool() as pool:
            keys.store = PostgresKeyStore(pool)
            app.state.read_models = ReadModelQueries(pool)
            async with (
                listening(url, COMMITS_CHANNEL, app.state.latest_cache.on_commit),
                own_pool(url) as watcher_pool,
                watching(app.state.latest_cache, ReadModelQueries(watcher_pool), every=1.0),
            ):
                counts = os.environ.get("BENCH_COUNTS_DIR")
                if counts:
                    asyncio.get_running_loop().add_signal_handler(
                        signal.SIGUSR1, tell_fast_answers, Path(counts), app.state.latest_cache
                    )
                yield

    return create_app(
        version_probes=[],
        access=AccessGate(Authenticator(keys=keys)),
        latest_cache_seconds=float(os.environ.get("BENCH_CACHE_SECONDS", "60")),
        lifespan=lifespan,
    )


LATEST_SQL = (
    "SELECT position, model_kind, issued_at, kickoff, trigger, model_id, artifact_hash, market, "
    "outcomes, probabilities, market_probabilities, edge, as_of_position "
    "FROM rm_forecasts.latest_forecasts WHERE fixture_id = $1 ORDER BY model_kind"
)


def peer_asyncpg() -> Starlette:
    """A bare Starlette endpoint: one asyncpg query per request, json.dumps, no auth."""
    state: dict[str, asyncpg.Pool] = {}

    async def latest(request: Request) -> Response:
        rows = await state["pool"].fetch(LATEST_SQL, UUID(request.path_params["fixture_id"]))
        body = [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(r).items()}
            for r in rows
        ]
        return Response(json.dumps(body), media_type="application/json")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with _pool() as pool:
            state["pool"] = pool
            yield

    return Starlette(
        routes=[Route("/v1/fixtures/{fixture_id}/forecasts/latest", latest)], lifespan=lifespan
    )


def peer_static() -> Starlette:
    """The floor of the HTTP stack: a Starlette endpoint answering fixed bytes, as many as the
    gateway's answer to the bench's fixtures, with the same headers (before session 9 it
    answered 17 bytes and two headers, a lighter load on wrk and the kernel than ours)."""
    kickoff = datetime(2026, 12, 5, 15, tzinfo=UTC)
    fixture = uuid4()
    rows = [
        ForecastRow(
            position=position,
            fixture_id=fixture,
            version=1,
            model_kind=kind,
            issued_at=kickoff,
            kickoff=kickoff,
            trigger="odds",
            model_id=f"{kind}-abc",
            artifact_hash="sha256:abc",
            market="1x2",
            outcomes=["home", "draw", "away"],
            probabilities=[0.45, 0.3, 0.25],
            market_probabilities=[0.44, 0.29, 0.27],
            edge=[0.01, 0.01, -0.02],
            as_of_position=position,
        )
        for position, kind in ((1001, "football-1x2"), (1002, "football-inplay"))
    ]
    fixed = answer(fixture, "football", "C1", rows, expires=0)
    headers = answer_headers(fixed.etag)

    async def latest(request: Request) -> Response:
        return Response(fixed.body, media_type="application/json", headers=headers)

    return Starlette(routes=[Route("/v1/fixtures/{fixture_id}/forecasts/latest", latest)])
