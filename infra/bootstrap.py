"""The composition root: the one place that turns settings into real, wired adapters.

Every process is built here: the gateway (`build_gateway`), the forecaster
(`running_forecaster`), the scheduled trainer (`scheduled_trainer`), feed health
(`feed_health_service`, `feed_health_app`), the feed intake behind replay and ingest
(`open_intake`), and the applications CLI commands use (`feed_ingestion`, `model_registry`).
Other modules ask for what they need here; none builds an event store environment of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import nats.errors
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from opentelemetry import metrics
from sse_starlette.sse import AppStatus

from commands.api_keys import KeyRecord, KeyStore
from commands.feed_health import FeedHealth
from commands.ingestion import Accepted, FeedCommand, FeedIngestion
from commands.intake import PayloadDecoder, RefusedPayload
from commands.model_registry import ModelRegistry
from domain.access import Limits
from domain.feed_health import FeedPulse
from domain.model_registry import FOOTBALL_1X2, FOOTBALL_INPLAY, NBA
from gateway.access.authenticator import Authenticator
from gateway.access.bearer_jwt import IssuerKeys, JwtVerifier
from gateway.access.gate import AccessGate
from gateway.access.streams import GateStreamAccess
from gateway.access.throttle import RequestRate
from gateway.api.audit import FixtureStory
from gateway.api.latest import LatestCache
from gateway.api.latest_watch import watching
from gateway.app import create_app
from gateway.ingest.schemas import command_from_json
from gateway.ports import CheckResult
from gateway.streams.hub import Hub, HubSettings
from gateway.streams.metrics import StreamMetrics
from infra.access.keystore import PostgresKeyStore, ensure_schema, revocations
from infra.analytics.mirror import mirror_analytics, standing
from infra.analytics.runner import AnalyticsRunner
from infra.analytics.service import AnalyticsService, dashboard_engine
from infra.audit.checkpoint_metrics import instrument_checkpointer
from infra.audit.checkpointer import Checkpointer, load_or_make_keys
from infra.audit.errors import UnknownFixture
from infra.audit.ranges import Ranges, default_workers
from infra.audit.timeline import fixture_timeline
from infra.connections import (
    connect_nats,
    create_pool,
    nats_server_version,
    own_pool,
    postgres_server_version,
)
from infra.dashboard_sources import PostgresFixtureDirectory, PostgresQuarantineCounts
from infra.demo import ChampionSource, ensure_champions, simulated_league_champions
from infra.demo_replay import DatasetReplay, ReplaySource
from infra.demo_season import play_demo_seasons
from infra.eventstore.errors import EventStoreUnavailable
from infra.eventstore.watch import StreamWatch
from infra.feed_health import DEFAULT_STREAM, STREAM_KEY, FeedHealthService
from infra.feeds.intake import JetStreamFeedIntake
from infra.feeds.payloads import PayloadStore
from infra.feeds.quarantine import Quarantine
from infra.following import FollowerFailure, describe_failures
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.champion import ChampionWatch, ScheduledTrainer, fetch_champion, use
from infra.forecasting.kinds import ModelKind
from infra.forecasting.lifecycle import registry_env
from infra.forecasting.metrics import instrument_forecaster
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.running import RunningForecaster
from infra.forecasting.service import configured_service
from infra.forecasting.serving import Loaded
from infra.forecasting.trainer_metrics import instrument_trainer
from infra.heap import freeze_after_startup
from infra.nats_setup import all_streams, event_streams
from infra.notices import Notices, Subscription
from infra.process_logging import configure_logging
from infra.projections.readiness import behind_elsewhere, describe_failure, projector_readiness
from infra.projections.wiring import running_projector
from infra.settings import Settings
from infra.streams.source import event_logs
from infra.telemetry import LATENCY_BUCKETS, configure_metrics, configure_tracing
from projections.runner import ProjectionRunner
from readmodels.live import Log
from readmodels.postgres.api_queries import ReadModelQueries
from readmodels.postgres.consistency import PositionWaits
from readmodels.postgres.positions import CHANNEL as COMMITS_CHANNEL
from readmodels.postgres.positions import read_failures

log = logging.getLogger("sportcast")


@dataclass
class Connections:
    """Live connections, opened by the app's lifespan and closed by it."""

    nats: NATS | None = None
    postgres: asyncpg.Pool | None = None
    projector: ProjectionRunner | None = None
    """The projection runner when this process runs it (``sportcast up``): its ``status()``
    and ``wait_for(...)`` serve /readyz and read-your-writes in process."""
    stream_watch: StreamWatch | None = None
    notices: Notices | None = None
    """The gateway's LISTEN connection (commit notices, key revocations): for /readyz."""
    analytics: AnalyticsRunner | None = None
    """The analytics projection when this process runs it (embedded DuckDB): for /readyz."""
    hub: Hub | None = None
    """The SSE hub: the heads of the logs it follows tell /readyz how far the projections
    are behind when they run elsewhere."""

    async def heads(self) -> dict[str, int]:
        """The last sequence of each log the hub follows (none before the hub runs)."""
        if self.hub is None:
            return {}
        return {str(log): (await source.bounds())[1] for log, source in self.hub.logs.items()}


@dataclass
class NatsProbe:
    connections: Connections
    name: str = "nats"

    async def version(self) -> str:
        nc = self.connections.nats
        if nc is None or not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        return nats_server_version(nc)


@dataclass
class NatsReachability:
    """The gateway's NATS connection stands for the event store's: both reach one server."""

    connections: Connections

    def reachable(self) -> bool:
        nc = self.connections.nats
        return nc is not None and nc.is_connected

    def is_outage(self, error: BaseException) -> bool:
        return isinstance(error, EventStoreUnavailable)


@dataclass
class PostgresProbe:
    connections: Connections
    name: str = "postgres"

    async def version(self) -> str:
        if self.connections.postgres is None:
            raise ConnectionError("no PostgreSQL pool")
        return await postgres_server_version(self.connections.postgres)


_METER = metrics.get_meter("sportcast.ingest")
_INGESTED = _METER.create_counter(
    "sportcast.ingest.commands", description="Feed commands accepted (or found duplicate)"
)
_APPEND_SECONDS = _METER.create_histogram(
    "sportcast.ingest.append",
    unit="s",
    description="From an accepted feed command to its events acknowledged by the store",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
)


@dataclass
class LateIntake:
    """The feed intake, available once the lifespan has connected (the app is built before)."""

    intake: JetStreamFeedIntake | None = None

    def _ready(self) -> JetStreamFeedIntake:
        if self.intake is None:
            raise ConnectionError("the feed intake is not connected yet")
        return self.intake

    async def keep_raw(self, raw: bytes) -> str:
        return await self._ready().keep_raw(raw)

    async def submit(self, command: FeedCommand) -> Accepted:
        started = time.perf_counter()
        accepted = await self._ready().submit(command)
        _APPEND_SECONDS.record(time.perf_counter() - started)
        _INGESTED.add(1, {"duplicate": str(accepted.duplicate).lower()})
        return accepted

    async def quarantine(self, refused: RefusedPayload) -> int:
        return await self._ready().quarantine(refused)


def feed_payload_decoder() -> PayloadDecoder:
    """The HTTP ingest's reading of a payload, for retrying a held one from the CLI: infra
    knows the gateway's schemas only through the composition root."""
    return command_from_json


def default_limits(settings: Settings) -> Limits:
    return Limits(
        requests_per_minute=settings.default_requests_per_minute,
        connections=settings.default_connections,
    )


def jwt_verifier(settings: Settings) -> JwtVerifier | None:
    if not settings.oauth_issuers:
        return None
    issuers = {
        issuer: IssuerKeys(
            url,
            lifespan=settings.oauth_jwks_lifespan_seconds,
            cooldown=settings.oauth_jwks_cooldown_seconds,
        )
        for issuer, url in settings.oauth_issuers.items()
    }
    return JwtVerifier(issuers, audience=settings.oauth_audience, limits=default_limits(settings))


def access_gate(settings: Settings, keys: KeyStore) -> AccessGate:
    authenticator = Authenticator(
        keys=keys,
        jwt=jwt_verifier(settings),  # feed tokens: adopted into the key store at start
        cache_seconds=settings.api_key_cache_seconds,
    )
    return AccessGate(authenticator, rate=RequestRate(settings.rate_limit_storage))


@dataclass
class NatsReady:
    client: Callable[[], NATS | None]
    name: str = "nats"

    async def check(self) -> CheckResult:
        nc = self.client()
        if nc is None:
            return CheckResult(False, "not connected yet")
        if not nc.is_connected:
            state = "reconnecting" if nc.is_reconnecting else "disconnected"
            return CheckResult(False, f"{state} from {nc.connected_url or 'NATS'}")
        await nc.flush(timeout=1)  # a round trip: the server answers, not just a socket open
        return CheckResult(True, f"nats-server {nats_server_version(nc)}")


@dataclass
class NoticesReady:
    """Not ready while the LISTEN connection is lost: kept copies are not served meanwhile and
    read-your-writes waits cannot be woken, so another gateway serves better."""

    notices: Callable[[], Notices | None]
    name: str = "notices"

    async def check(self) -> CheckResult:
        notices = self.notices()
        if notices is None:
            return CheckResult(False, "not listening yet", code=NOTICES_DOWN)
        if not notices.listening:
            return CheckResult(False, notices.describe(), code=NOTICES_DOWN)
        return CheckResult(True, notices.describe())


@dataclass
class LogTimelines:
    """A fixture's story read from the event log (`sportcast audit timeline`'s reading) for
    the audit route, on the gateway's NATS connection (its reader role reads the streams)."""

    nats: NATS
    events_stream: str
    forecasts_stream: str

    async def story(self, fixture_id: UUID) -> FixtureStory | None:
        try:
            told = await fixture_timeline(
                self.nats,
                fixture_id,
                events_stream=self.events_stream,
                forecasts_stream=self.forecasts_stream,
            )
        except UnknownFixture:
            return None
        return FixtureStory(told.title, [entry.as_json() for entry in told.entries])


NOTICES_DOWN = "postgres-notices-down"
"""The stable code of NoticesReady's failure in /readyz's checks."""


def gateway_notices(
    url: str,
    cache: LatestCache,
    gate: AccessGate,
    connections: Connections,
    waits: PositionWaits | None = None,
) -> Notices:
    """The gateway's one LISTEN connection, made again when lost (docs/adr/0038): commit
    notices drop the latest-forecast copies and wake read-your-writes waits, revocations drop
    the cached keys; after a loss the copies and keys go and every wait checks again, since
    what changed meanwhile was never announced."""
    notices = connections.notices = Notices(url)
    notices.subscribe(
        Subscription(
            COMMITS_CHANNEL,
            cache.on_commit,
            lost=cache.notices_lost,
            resync=cache.notices_resumed,
        )
    )
    if waits is not None:
        notices.subscribe(Subscription(COMMITS_CHANNEL, waits.on_commit, resync=waits.resync))
    notices.subscribe(revocations(gate.authenticator.forget, gate.authenticator.forget_all))
    return notices


@dataclass
class StreamsReady:
    """Not ready once any stream's configuration changed while running (issue 13)."""

    watch: Callable[[], StreamWatch | None]
    name: str = "streams"

    async def check(self) -> CheckResult:
        watch = self.watch()
        if watch is None:
            return CheckResult(False, "stream watch not started yet")
        problems = watch.problems()
        if problems:
            return CheckResult(False, "; ".join(problems))
        return CheckResult(True, "stream configurations unchanged since start")


@dataclass
class PostgresReady:
    pool: Callable[[], asyncpg.Pool | None]
    name: str = "postgres"

    async def check(self) -> CheckResult:
        pool = self.pool()
        if pool is None:
            return CheckResult(False, "no connection pool yet")
        async with asyncio.timeout(1.5):
            version = await pool.fetchval("SHOW server_version")
        return CheckResult(True, f"PostgreSQL {version}")


@dataclass
class ProjectionsReady:
    """Not ready while a projection has stopped on an event (or, run here, is still starting):
    the read models would answer from rows that no longer follow the log."""

    runner: Callable[[], ProjectionRunner | None]
    pool: Callable[[], asyncpg.Pool | None]
    analytics: Callable[[], AnalyticsRunner | None] = lambda: None
    heads: Callable[[], Awaitable[Mapping[str, int]]] | None = None
    """The logs' heads, to say how far behind projections running elsewhere are."""
    name: str = "projections"

    async def check(self) -> CheckResult:
        result = await self._read_models()
        analytics = self.analytics()
        if analytics is None:
            return result
        positions, failure = await asyncio.to_thread(standing, analytics)
        if failure is not None:
            stream, position, error = failure
            failed = f"analytics failed after {stream} {position}: {error}"
            return CheckResult(False, failed if result.ready else f"{result.detail}; {failed}")
        at = ", ".join(f"{s} {p}" for s, p in sorted(positions.items()))
        try:  # the heads: from the event store, which may be away (NatsReady says so)
            async with asyncio.timeout(1.0):
                behind = sum((await asyncio.to_thread(analytics.status)).lag_events.values())
                age = await asyncio.to_thread(analytics.lag_seconds, datetime.now(UTC))
            at += f", {behind} events behind, {age:.1f} s"
        except (TimeoutError, OSError, EventStoreUnavailable):
            pass
        return CheckResult(result.ready, f"{result.detail}; analytics at {at or 'nothing yet'}")

    async def _read_models(self) -> CheckResult:
        runner = self.runner()
        if runner is not None:
            return CheckResult(*projector_readiness(runner))
        pool = self.pool()
        if pool is None:
            return CheckResult(False, "no connection pool yet")
        heads = await self._heads()
        async with asyncio.timeout(1.5), pool.acquire() as conn:
            failures = await read_failures(conn)
            if failures:
                return CheckResult(False, "; ".join(describe_failure(f) for f in failures.values()))
            behind = f"; {await behind_elsewhere(conn, heads)}" if heads else ""
        return CheckResult(True, f"no projection has failed (the projector runs elsewhere){behind}")

    async def _heads(self) -> Mapping[str, int]:
        """The logs' heads if they come at once (the source keeps them briefly), else none:
        the event store may be away (NatsReady says so) and the whole check has 2 s."""
        if self.heads is None:
            return {}
        try:
            async with asyncio.timeout(0.4):
                return await self.heads()
        except (TimeoutError, OSError, nats.errors.Error):
            return {}


@dataclass
class FollowersReady:
    """Not ready while a follower (feed health, the forecaster) is stopped at an event it failed
    on: it waits there to be resumed (docs/adr/0017)."""

    failures: Callable[[], list[FollowerFailure | None]]
    name: str = "followers"

    async def check(self) -> CheckResult:
        return CheckResult(*describe_failures(self.failures()))


@dataclass
class LateKeyStore:
    """The API key store, available once the lifespan has opened the PostgreSQL pool."""

    store: PostgresKeyStore | None = None

    async def find(self, short: str) -> KeyRecord | None:
        if self.store is None:
            raise ConnectionError("the key store is not connected yet")
        return await self.store.find(short)


@dataclass
class Running:
    """What the lifespan started and must stop (the demo may start the forecaster later)."""

    forecaster: RunningForecaster | None = None

    def failure(self) -> FollowerFailure | None:
        return None if self.forecaster is None else self.forecaster.service.failure


async def run_demo(
    settings: Settings,
    nats_url: str,
    nc: NATS,
    intake: JetStreamFeedIntake,
    speed: float,
    running: Running,
    replay: ReplaySource | None = None,
) -> None:
    """The self-contained demo: the simulated season (or with ``replay``, that dataset's latest
    season) played live from the first moment, continued from where the last start stopped;
    the champions for it (trained from past seasons on the first start, then cached in the
    registry), and the forecaster following them (it catches up with the events played
    meanwhile)."""
    if replay is None:
        playing = play_demo_seasons(intake, speed, settings.demo_season_path)
        champions, history_stream = simulated_league_champions(), settings.demo_history_stream
    else:
        dataset = DatasetReplay(settings.data_dir, replay)
        playing = dataset.play(intake, speed)
        champions, history_stream = dataset.champions(), settings.replay_history_stream
    season = asyncio.create_task(playing)
    try:
        try:
            await _demo_forecaster(settings, nats_url, nc, running, champions, history_stream)
        except Exception as error:  # the season still plays; forecasts need a champion
            log.error("demo: no champion could be trained or started: %r", error)
        await season
    finally:
        season.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await season


async def _demo_forecaster(
    settings: Settings,
    nats_url: str,
    nc: NATS,
    running: Running,
    source: ChampionSource,
    history_stream: str,
) -> None:
    artifacts = ArtifactStore(
        nc.jetstream(), bucket=settings.model_bucket, replicas=settings.stream_replicas
    )
    history = settings.model_copy(update={"stream_name": history_stream})
    async with open_intake(history, nats_url, nc) as history_intake:
        champions = await ensure_champions(
            history_intake,
            event_store_env(history, nats_url),
            settings.model_registry_stream,
            artifacts,
            source,
        )
    log.info("demo champions: %s", champions)
    if running.forecaster is None:
        running.forecaster = await asyncio.to_thread(
            running_forecaster, settings, nats_url, only_with_a_model=True
        )
        if running.forecaster is not None:
            await asyncio.to_thread(running.forecaster.start)


def audit_ranges(settings: Settings) -> Ranges:
    """How `audit verify` splits the chain check over processes (ADR 0031)."""
    return Ranges(default_workers(settings.audit_workers), settings.audit_parallel_from)


def build_checkpointer(settings: Settings, nc: NATS) -> Checkpointer:
    """Signed checkpoints over every sportcast stream, on a schedule and at shutdown."""
    signing, _ = load_or_make_keys(settings.checkpoint_keys_path)
    checkpointer = Checkpointer(
        nc,
        event_streams(settings),
        chain_key=settings.nats_chain_key.get_secret_value().encode()
        if settings.nats_chain_key
        else b"",
        signing=signing,
        interval=settings.checkpoint_interval_seconds,
    )
    instrument_checkpointer(checkpointer)  # on /metrics when the process serves them
    return checkpointer


async def stream_hub(settings: Settings, nc: NATS) -> Hub:
    """The started SSE hub of this process, following the event and forecast streams.

    sse-starlette's ``AppStatus`` learns of uvicorn's exit signal (it wraps
    ``Server.handle_exit``): the hub polls it to end every stream with a ``retry:`` hint, since
    uvicorn waits for open responses before the lifespan's shutdown runs (docs/adr/0011)."""
    events, forecasts = event_logs(
        nc, events_stream=settings.stream_name, forecasts_stream=settings.forecaster_stream
    )
    hub = Hub(
        {Log.EVENTS: events, Log.FORECASTS: forecasts},
        HubSettings(
            heartbeat_seconds=settings.sse_heartbeat_seconds,
            buffer_events=settings.sse_buffer_events,
            replay_limit=settings.sse_replay_limit,
            client_buffer_bytes=settings.sse_client_buffer_bytes,
            send_timeout_seconds=settings.sse_send_timeout_seconds,
            retry_ms=settings.sse_retry_ms,
        ),
        StreamMetrics(metrics.get_meter("sportcast.gateway")),
    )
    await hub.start(should_exit=lambda: AppStatus.should_exit)
    return hub


def analytics_service(
    settings: Settings, nats_url: str, *, path: Path | None = None
) -> AnalyticsService:
    """The analytics projection's process (blocking: it connects)."""
    return AnalyticsService(settings, event_store_env(settings, nats_url), path=path)


async def open_analytics(app: FastAPI, settings: Settings, nats_url: str) -> AnalyticsService:
    """The embedded analytics projection, running; its DuckDB engine on the app's state."""
    try:
        analytics = await asyncio.to_thread(analytics_service, settings, nats_url)
    except Exception:
        log.exception("the analytics projection could not start: dashboards have no data")
        raise
    analytics.start()
    app.state.dashboard_engine = dashboard_engine(settings, analytics.store)
    return analytics


async def follow_analytics(
    opening: asyncio.Task[AnalyticsService], connections: Connections, postgres_url: str
) -> None:
    """Once the analytics projection runs: /readyz asks it, and its standing is copied to
    PostgreSQL for `sportcast projections status` (infra/analytics/mirror.py)."""
    service = await opening
    connections.analytics = service.runner
    await mirror_analytics(service.runner, postgres_url)


async def close_analytics(opening: asyncio.Task[AnalyticsService]) -> None:
    try:
        analytics = await opening
    except Exception:  # logged when it happened
        return
    await asyncio.to_thread(analytics.close)


def build_gateway(
    settings: Settings,
    *,
    nats_url: str,
    postgres_url: str,
    demo_speed: float | None = None,
    demo_replay: ReplaySource | None = None,
    run_projector: bool = False,
    run_followers: bool = False,
    embedded_analytics: bool = True,
) -> FastAPI:
    """The HTTP gateway: ingest, reads, SSE. ``run_followers``: also run feed health, the
    forecaster and the checkpointer in this process (``sportcast up``, whose one NATS user may
    do all of it); otherwise each runs as its own service under its own NATS user (``sportcast
    serve feed-health|forecaster|checkpointer``) and the gateway reads feed health's board.
    ``demo_speed``: also play the simulated season (``demo_replay``: that dataset's latest
    season) at that many times real speed (needs ``run_followers``); ``run_projector``: also
    build the PostgreSQL read models;
    ``embedded_analytics``: without a Pinot broker, keep the dashboards' DuckDB tables here
    (one writer: False in each of several gateway processes, ``http_gateway``)."""
    configure_tracing("sportcast-gateway", settings.otel_exporter_endpoint)
    configure_metrics("sportcast-gateway")
    connections = Connections()
    late = LateIntake()
    keys = LateKeyStore()
    gate = access_gate(settings, keys)
    feed_health = feed_health_service(settings, nats_url) if run_followers else None
    reader = None if feed_health else FeedHealthBoard(settings, nats_url)
    board = feed_health or reader
    running = Running()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections.nats = await connect_nats(nats_url, name="sportcast-gateway")
        app.state.fixture_timelines = LogTimelines(
            connections.nats, settings.stream_name, settings.forecaster_stream
        )
        # Any change to a stream's configuration is an alarm and fails readiness (issue 13).
        watch = StreamWatch(connections.nats, all_streams(settings))
        await watch.start()
        connections.stream_watch = watch  # StreamsReady: /readyz fails on any change
        # The gateway's queries change no session state: no reset round trip per use.
        connections.postgres = await create_pool(postgres_url, reset_sessions=False)
        hub = await stream_hub(settings, connections.nats)
        app.state.stream_hub = connections.hub = hub
        try:
            await ensure_schema(connections.postgres)
            keys.store = PostgresKeyStore(connections.postgres)
            adopted = await keys.store.adopt_feed_tokens(
                settings.feed_tokens, default_limits(settings)
            )
            if adopted:
                log.info("feed tokens adopted into the key store as keys %s", ", ".join(adopted))
            app.state.read_models = ReadModelQueries(connections.postgres)
            waits = app.state.projection_waits = PositionWaits(connections.postgres)
            async with (
                gateway_notices(postgres_url, app.state.latest_cache, gate, connections, waits),
                own_pool(postgres_url) as watcher_pool,  # never queues behind the requests
                watching(
                    app.state.latest_cache,
                    ReadModelQueries(watcher_pool),
                    every=settings.rest_latest_check_seconds,
                ),
                open_intake(settings, nats_url, connections.nats) as intake,
            ):
                late.intake = intake
                app.state.fixture_directory = PostgresFixtureDirectory(connections.postgres)
                app.state.quarantine_counts = PostgresQuarantineCounts(connections.postgres)
                if feed_health is not None:
                    await asyncio.to_thread(feed_health.start)
                # The analytics tables the dashboards query: embedded, a DuckDB file in the
                # state dir kept here; with a Pinot broker (compose) the analytics-sink
                # service feeds Pinot and the gateway only queries it.
                # Opened in the background: /health must not wait for it.
                app.state.dashboard_engine = None
                analytics = None
                mirror: asyncio.Task[None] | None = None
                if settings.pinot_broker_url:
                    app.state.dashboard_engine = dashboard_engine(settings, None)
                elif embedded_analytics:
                    analytics = asyncio.create_task(open_analytics(app, settings, nats_url))
                    mirror = asyncio.create_task(
                        follow_analytics(analytics, connections, postgres_url)
                    )
                # Forecasts when some kind has a model file or a champion (ADR 0008).
                if run_followers:
                    running.forecaster = await asyncio.to_thread(
                        running_forecaster, settings, nats_url, only_with_a_model=True
                    )
                if running.forecaster is not None:
                    await asyncio.to_thread(running.forecaster.start)
                elif run_followers and not demo_speed:
                    log.info("no model file and no champion yet: the forecaster is not started")
                demo = (
                    asyncio.create_task(
                        run_demo(
                            settings,
                            nats_url,
                            connections.nats,
                            intake,
                            demo_speed,
                            running,
                            demo_replay,
                        )
                    )
                    if demo_speed and run_followers
                    else None
                )
                checkpointer = build_checkpointer(settings, connections.nats)
                if run_followers:
                    await checkpointer.start()
                try:
                    async with contextlib.AsyncExitStack() as projector:
                        if run_projector:
                            connections.projector = await projector.enter_async_context(
                                running_projector(settings, nats_url, postgres_url)
                            )
                        # Start-up is over: full collections skip what it made (ADR 0036).
                        freeze_after_startup()
                        yield
                finally:
                    if run_followers:
                        await checkpointer.stop()
                    connections.projector = None
                    if demo is not None:
                        demo.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await demo
                    if feed_health is not None:
                        await asyncio.to_thread(feed_health.stop)
                    if reader is not None:
                        await asyncio.to_thread(reader.close)
                    if mirror is not None:
                        mirror.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await mirror  # an analytics that never opened was logged then
                        connections.analytics = None
                    if analytics is not None:
                        await close_analytics(analytics)
                    if running.forecaster is not None:
                        await asyncio.to_thread(running.forecaster.stop)
                        running.forecaster = None
        finally:
            late.intake = None
            app.state.stream_hub = connections.hub = None
            await hub.stop()
            keys.store = None
            await watch.stop()
            await connections.postgres.close()
            if connections.nats.is_connected:
                await connections.nats.drain()
            else:  # the server is gone: nothing to drain to
                await connections.nats.close()

    return create_app(
        version_probes=[NatsProbe(connections), PostgresProbe(connections)],
        feed_intake=late,
        feed_bookmakers=settings.feed_bookmakers,
        store_status=NatsReachability(connections),
        feed_health=board,
        access=gate,
        stream_access=GateStreamAccess(gate),
        latest_cache_seconds=settings.rest_latest_cache_seconds,
        readiness_checks=[
            NatsReady(lambda: connections.nats),
            PostgresReady(lambda: connections.postgres),
            ProjectionsReady(
                lambda: connections.projector,
                lambda: connections.postgres,
                lambda: connections.analytics,
                connections.heads,
            ),
            StreamsReady(lambda: connections.stream_watch),
            NoticesReady(lambda: connections.notices),
            FollowersReady(lambda: [feed_health.failure, running.failure()] if feed_health else []),
        ],
        lifespan=lifespan,
    )


def http_gateway() -> FastAPI:
    """One of the processes of ``sportcast serve gateway --workers N`` (uvicorn's app factory,
    called in each worker; settings from the environment): ingest, reads and SSE, like
    ``serve gateway``, without the embedded analytics (one DuckDB writer; with workers the
    dashboards' analytics come from Pinot). Its SSE hub follows the logs itself, so any worker
    resumes any client exactly (docs/adr/0011, 0026)."""
    settings = Settings()
    if not settings.nats_url or not settings.postgres_url:
        raise RuntimeError("set SPORTCAST_NATS_URL and SPORTCAST_POSTGRES_URL")
    configure_logging(settings.log_level)  # a spawned worker: its parent's set-up is not here
    return build_gateway(
        settings,
        nats_url=settings.nats_url,
        postgres_url=settings.postgres_url,
        embedded_analytics=False,
    )


# -- the event store and the applications on it ------------------------------------------


def event_store_env(settings: Settings, nats_url: str) -> dict[str, str]:
    """The eventsourcing environment that selects the JetStream event store (its keys: see
    infra/eventstore/settings.py and security.py)."""
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": settings.stream_name,
        "NATS_REPLICAS": str(settings.stream_replicas),
        "NATS_SAVE_TIMEOUT": str(settings.nats_save_timeout),
        "NATS_DUPLICATE_WINDOW": str(settings.nats_duplicate_window),
        "NATS_WIRE": "yes" if settings.nats_wire else "no",
        **settings.nats_security().as_env(),
    }
    if settings.nats_chain_key is not None:
        env["NATS_CHAIN_KEY"] = settings.nats_chain_key.get_secret_value()
    return env


def feed_ingestion(settings: Settings, nats_url: str) -> FeedIngestion:
    """The feed's application service on the event store (blocking: it connects)."""
    return FeedIngestion(event_store_env(settings, nats_url))


def model_registry(settings: Settings, nats_url: str, stream: str | None = None) -> ModelRegistry:
    """The model registry on its own stream (default the settings'), beside the feed's."""
    feeds_env = event_store_env(settings, nats_url)
    return ModelRegistry(registry_env(feeds_env, stream or settings.model_registry_stream))


@asynccontextmanager
async def open_intake(
    settings: Settings, nats_url: str, nc: NATS, *, workers: int = 32
) -> AsyncIterator[JetStreamFeedIntake]:
    js = nc.jetstream()
    payloads = PayloadStore(js, replicas=settings.stream_replicas)
    quarantine = Quarantine(js, replicas=settings.stream_replicas)
    await payloads.ensure_stream()
    await quarantine.ensure_stream()
    ingestion = await asyncio.to_thread(FeedIngestion, event_store_env(settings, nats_url))
    intake = JetStreamFeedIntake(ingestion, payloads, quarantine, workers=workers)
    try:
        yield intake
    finally:
        intake.close()
        await asyncio.to_thread(ingestion.close)


# -- processes ---------------------------------------------------------------------------------


def feed_health_env(
    settings: Settings, nats_url: str, *, stream: str = DEFAULT_STREAM
) -> dict[str, str]:
    """The feed's event store for the followed application, plus the process's own stream."""
    return {**event_store_env(settings, nats_url), STREAM_KEY: stream}


def feed_health_app(settings: Settings, nats_url: str, stream: str = DEFAULT_STREAM) -> FeedHealth:
    """The feed-health process application, to read its board (`sportcast health`)."""
    return FeedHealth(feed_health_env(settings, nats_url, stream=stream))


class FeedHealthBoard:
    """Feed health's board read from its stream, for a gateway that does not run feed health
    itself (it runs as its own service). Opened on first use, off the event loop."""

    def __init__(self, settings: Settings, nats_url: str) -> None:
        self._settings, self._nats_url = settings, nats_url
        self._app: FeedHealth | None = None

    def _opened(self) -> FeedHealth:
        if self._app is None:
            self._app = feed_health_app(
                self._settings, self._nats_url, self._settings.feed_health_stream
            )
        return self._app

    async def pulses(self, now: datetime) -> list[FeedPulse]:
        return await asyncio.to_thread(lambda: self._opened().feed_pulses(now))

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def feed_health_service(settings: Settings, nats_url: str) -> FeedHealthService:
    """Feed health as the gateway runs it: following the feed, checking for stale odds."""
    return FeedHealthService(
        feed_health_env(settings, nats_url, stream=settings.feed_health_stream),
        stale_after=timedelta(seconds=settings.feed_health_stale_after_seconds),
        window=timedelta(seconds=settings.feed_health_window_seconds),
        interval=settings.feed_health_check_interval_seconds,
    )


def scheduled_trainer(
    settings: Settings,
    nats_url: str,
    *,
    every: float,
    kinds: Sequence[ModelKind] | None = None,
    on_result: Callable[[str], None] | None = None,
) -> ScheduledTrainer:
    """The trainer `sportcast serve trainer` runs; its feed and registry close with it."""
    trainer = ScheduledTrainer(
        feed_ingestion(settings, nats_url),
        model_registry(settings, nats_url),
        nats_url=nats_url,
        bucket=settings.model_bucket,
        every=every,
        kinds=kinds,
        on_result=on_result,
    )
    instrument_trainer(trainer)  # on /metrics when the process serves them
    return trainer


def running_forecaster(
    settings: Settings, nats_url: str, *, watch_every: float = 10.0, only_with_a_model: bool = False
) -> RunningForecaster | None:
    """The forecaster the settings describe, not yet started. ``only_with_a_model``: None when no
    kind has a model file or a champion (nothing it could forecast with).

    Blocking (reads the registry and the object store). Raises OSError, ValueError or
    ArtifactError when a model file or a champion's artifact cannot be read."""
    feeds_env = event_store_env(settings, nats_url)
    registry = ModelRegistry(registry_env(feeds_env, settings.model_registry_stream))
    try:
        files = {
            FOOTBALL_1X2: settings.model_file,
            NBA: settings.nba_model_file,
            FOOTBALL_INPLAY: settings.inplay_model_file,
        }
        watched = [kind for kind, path in files.items() if path is None]
        champions: dict[str, Loaded] = {}
        for kind in watched:
            champion = fetch_champion(registry, nats_url, settings.model_bucket, kind)
            if champion is not None:
                champions[kind] = champion
        in_use = [k for k, path in files.items() if path is not None or k in champions]
        if only_with_a_model and not in_use:
            registry.close()
            return None
        # A football model file is archived by configured_service; champions already are.
        pinned = None
        if settings.model_file is not None:
            pinned = LoadedModel.from_bytes(settings.model_file.read_bytes())
        service = configured_service(settings, feeds_env, pinned)
    except BaseException:
        registry.close()
        raise
    for model in champions.values():
        use(service.forecaster, model)
    watch = None
    if watched:
        watch = ChampionWatch(
            service.forecaster,
            registry,
            nats_url=nats_url,
            bucket=settings.model_bucket,
            every=watch_every,
            kinds=watched,
        )
    logging.getLogger("sportcast.forecaster").info(
        "forecaster models: %s", ", ".join(in_use) or "none yet"
    )
    instrument_forecaster(service)
    return RunningForecaster(service, watch, registry, in_use)
