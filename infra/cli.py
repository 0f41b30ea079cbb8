"""The ``sportcast`` command line. Each command reads settings once and wires through bootstrap."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import prometheus_client
import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from domain.errors import DomainError
from domain.model_registry import FOOTBALL_1X2, KINDS, check_kind
from infra import (
    cli_analytics,
    cli_audit,
    cli_health,
    cli_keys,
    cli_model,
    cli_nats,
    cli_projections,
    cli_replay,
    cli_store,
)
from infra import cli_feed as feed
from infra.bootstrap import (
    build_checkpointer,
    build_gateway,
    feed_health_service,
    running_forecaster,
    scheduled_trainer,
)
from infra.connections import connect_nats, ensure_database, use_nats_security
from infra.demo import demo_key
from infra.demo_replay import DatasetMissing, ReplaySource, check_dataset
from infra.embedded.lock import DataDirInUse
from infra.embedded.ports import PortInUseError, ServiceStartError, ensure_port_free
from infra.embedded.stack import EmbeddedStack
from infra.embedded.supervisor import Supervisor
from infra.forecasting.artifacts import ArtifactError
from infra.forecasting.lifecycle import KINDS as TRAINED_KINDS
from infra.gateway_workers import serve_gateway_workers
from infra.http_handover import HandoverHttpToolsProtocol
from infra.process_logging import UnknownLogLevel, configure_logging
from infra.projections.wiring import serve_projector as serve_projector_until
from infra.settings import Durability, Settings
from infra.store_check import StoreCheck, StoreWatch
from infra.telemetry import configure_metrics, configure_tracing

app = typer.Typer(
    name="sportcast",
    help="Event-sourced sports forecasting on NATS JetStream.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
feed.app.add_typer(cli_health.app, name="health")
app.add_typer(feed.app, name="feed")
app.add_typer(cli_model.app, name="model")
app.add_typer(cli_store.app, name="store")
app.add_typer(cli_audit.app, name="audit")
app.add_typer(cli_keys.app, name="keys")
app.add_typer(cli_analytics.app, name="analytics")
app.add_typer(cli_projections.app, name="projections")
app.command("replay")(cli_replay.replay_command)
app.add_typer(cli_nats.nats_app, name="nats")
app.add_typer(cli_nats.certs_app, name="certs")


@app.callback()
def main() -> None:
    """Event-sourced sports forecasting on NATS JetStream."""
    # Every command's NATS connections use the configured TLS and credentials.
    use_nats_security(Settings().nats_security())


def fail(code: str, message: str, exit_code: int = 2) -> typer.Exit:
    """Print a user-facing error with its stable code and return the exit to raise."""
    console.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}", soft_wrap=True)
    return typer.Exit(exit_code)


def without_password(url: str) -> str:
    """``url`` fit to print: its password (kept in the data dir) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def shout(line: str) -> None:
    console.print(f"[bold red]{escape(line)}[/]", soft_wrap=True)


def refuse_damaged_store(check: StoreCheck | None, *, accept: bool) -> None:
    """Stop here when the store check found damage, unless told to run degraded."""
    if check is None or check.ok:
        return
    if not accept:
        listing = "; ".join(str(problem) for problem in check.problems)
        raise fail(
            "store-damaged",
            f"{listing}. Look with `sportcast store check --full`; start anyway with"
            " --accept-damage (degraded), see docs/adr/0018",
        )
    shout("starting on a damaged store (--accept-damage): see the problems above")


def stop_requested() -> threading.Event:
    """Set by SIGINT or SIGTERM (a service's stop)."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


def stop_requested_async() -> asyncio.Event:
    """:func:`stop_requested` for a service on the running event loop."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    return stopping


def serve_metrics(settings: Settings, service: str) -> None:
    """/metrics on SPORTCAST_METRICS_PORT for a service with no HTTP of its own (a follower's
    stopped/failed-position gauges, its lag), for Prometheus to scrape."""
    if settings.metrics_port is None:
        return
    configure_metrics(service)
    try:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except OSError as exc:  # taken, or an address this host does not have
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise fail("metrics-port-unavailable", f"cannot serve /metrics on {where}: {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def log_as_a_service(settings: Settings | None = None) -> None:
    """The logging of a long-running command: INFO lines to stderr (process_logging.py)."""
    try:
        configure_logging((settings or Settings()).log_level)
    except UnknownLogLevel as unknown:
        raise fail(unknown.code, str(unknown)) from None


@app.command()
def up(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where NATS and PostgreSQL keep their data (env SPORTCAST_STATE_DIR)."),
    ] = None,
    nats_port: Annotated[int | None, typer.Option(help="nats-server client port.")] = None,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL port.")] = None,
    port: Annotated[int | None, typer.Option(help="Gateway HTTP port.")] = None,
    durability: Annotated[
        Durability | None, typer.Option(help="fsync (default) or replicated; see ADR 0003.")
    ] = None,
    demo_speed: Annotated[
        float,
        typer.Option(help="Play the demo feed at this many times real speed; 0: off."),
    ] = 3600.0,
    replay: Annotated[
        ReplaySource | None,
        typer.Option(
            help="Play this dataset's latest season (from SPORTCAST_DATA_DIR) as the demo feed "
            "instead of the simulated league; the seasons before it train the champion.",
        ),
    ] = None,
    accept_damage: Annotated[
        bool,
        typer.Option(help="Start even if the store check finds damage (degraded, loudly)."),
    ] = False,
) -> None:
    """Start the whole system on the embedded stack and serve until Ctrl-C.

    Starts a real nats-server (JetStream) and a real PostgreSQL as child processes unless
    SPORTCAST_NATS_URL / SPORTCAST_POSTGRES_URL point at running ones. Data stays in the data
    directory, so the next `sportcast up` resumes with every event intact.
    """
    settings = load_settings(
        state_dir=data_dir,
        nats_port=nats_port,
        postgres_port=pg_port,
        gateway_port=port,
        durability=durability,
    )
    log_as_a_service(settings)
    if replay is not None and demo_speed:
        try:
            check_dataset(settings.data_dir, replay)
        except DatasetMissing as missing:
            raise fail(missing.code, str(missing)) from None
    stack = EmbeddedStack(settings)
    supervisor: Supervisor | None = None
    watch: StoreWatch | None = None
    gave_up: list[str] = []
    try:
        ensure_port_free(
            "gateway",
            settings.gateway_host,
            settings.gateway_port,
            "SPORTCAST_GATEWAY_PORT / --port",
        )
        endpoints = stack.start()
        use_nats_security(settings.nats_security())  # the embedded stack's user, made at start
        if "nats-server" in endpoints.started:
            watch = StoreWatch(settings, endpoints.nats_url, report=shout)
            refuse_damaged_store(watch.tick(), accept=accept_damage)
        asyncio.run(ensure_database(endpoints.postgres_url))
        base = f"http://{settings.gateway_host}:{settings.gateway_port}"
        console.print(f"[bold green]sportcast is up[/] (data in {settings.state_dir})")
        console.print(f"  NATS        {endpoints.nats_url}")
        console.print(f"  PostgreSQL  {without_password(endpoints.postgres_url)}")
        console.print(f"  health      {base}/health")
        console.print(f"  API docs    {base}/docs")
        if settings.feed_tokens:
            console.print(
                f"  feed ingest {base}/feeds/* (providers: {sorted(settings.feed_tokens.values())})"
            )
        key = asyncio.run(demo_key(endpoints.postgres_url, settings.demo_key_path))
        console.print(f"  dashboard   [bold]{base}/dashboard/?key={key}[/]")
        if demo_speed and replay is not None:
            console.print(
                f"  demo feed   the {replay} dataset's latest season at {demo_speed:g}x real speed"
                f" (from {settings.data_dir})"
            )
        elif demo_speed:
            console.print(f"  demo feed   a simulated season at {demo_speed:g}x real speed")
        if settings.model_file:
            console.print(f"  forecaster  model {settings.model_file}")
        elif demo_speed:
            console.print(
                "  forecaster  each kind's champion; the demo feed's is trained from its past "
                "seasons on the first start (then cached)"
            )
        else:
            console.print("  forecaster  each kind's champion, once one exists (sportcast model)")
        console.print("Press Ctrl-C to stop.")
        if settings.projector_in_up:
            console.print("  projector   PostgreSQL read models (sportcast projections status)")
        gateway = build_gateway(
            settings,
            nats_url=endpoints.nats_url,
            postgres_url=endpoints.postgres_url,
            demo_speed=demo_speed or None,
            demo_replay=replay,
            run_projector=settings.projector_in_up,
            run_followers=True,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                gateway,
                host=settings.gateway_host,
                port=settings.gateway_port,
                log_level=settings.log_level.lower(),
                access_log=settings.gateway_access_log,
                http=HandoverHttpToolsProtocol,  # streams take their connections (ADR 0036)
            )
        )

        def give_up(reason: str) -> None:
            gave_up.append(reason)
            server.should_exit = True

        supervisor = Supervisor(
            stack.children(),
            report=lambda line: console.print(line, markup=False),
            give_up=give_up,
            backoff=settings.supervise_backoff_seconds,
            max_restarts=settings.supervise_max_restarts,
        )
        supervisor.start()
        if watch is not None:
            watch.start()
        with contextlib.suppress(KeyboardInterrupt):
            server.run()  # uvicorn re-raises the SIGINT it handled once it has shut down
        if gave_up:
            raise fail("child-failed", gave_up[0], exit_code=1)
    except (PortInUseError, ServiceStartError, DataDirInUse) as exc:
        raise fail(exc.code, str(exc)) from None
    finally:
        if watch is not None:
            watch.stop()  # records the heads at a clean stop
        if supervisor is not None:
            supervisor.stop()
        stack.stop()
        console.print("sportcast stopped; data kept in", str(settings.state_dir))


serve = typer.Typer(help="Run one service against already running NATS and PostgreSQL.")
app.add_typer(serve, name="serve")


@serve.callback()
def serve_logging() -> None:
    """Run one service against already running NATS and PostgreSQL (logs to stderr at
    SPORTCAST_LOG_LEVEL)."""
    log_as_a_service()


@serve.command("gateway")
def serve_gateway(
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Gateway processes on one port, each serving ingest, reads and SSE (any one "
            "resumes any stream client exactly) on a socket of its own (SO_REUSEPORT: the "
            "kernel spreads connections evenly). With more than one, the dashboards' "
            "analytics need Pinot (SPORTCAST_PINOT_BROKER_URL).",
        ),
    ] = 1,
) -> None:
    """The HTTP gateway alone (health, feed ingest, reads, SSE), for compose and production.

    Needs SPORTCAST_NATS_URL and SPORTCAST_POSTGRES_URL; starts nothing else: feed health,
    the forecaster and the checkpointer run as their own services (`sportcast serve ...`),
    each with its own NATS user. Its NATS user needs the ingest role (feed subjects only).
    """
    settings = load_settings()
    if not settings.nats_url or not settings.postgres_url:
        raise fail(
            "config-missing", "set SPORTCAST_NATS_URL and SPORTCAST_POSTGRES_URL to serve alone"
        )
    if workers > 1:
        serve_gateway_workers(settings, workers)
        return
    gateway = build_gateway(
        settings, nats_url=settings.nats_url, postgres_url=settings.postgres_url
    )
    server = uvicorn.Server(
        uvicorn.Config(
            gateway,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level=settings.log_level.lower(),
            access_log=settings.gateway_access_log,
            http=HandoverHttpToolsProtocol,  # streams take their connections (ADR 0036)
        )
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


@serve.command("forecaster")
def serve_forecaster(
    model_file: Annotated[
        Path | None,
        typer.Option(help="Model artifact (env SPORTCAST_MODEL_FILE); default: the champion."),
    ] = None,
    watch_every: Annotated[
        float, typer.Option(help="Seconds between checks for a newly promoted champion.")
    ] = 10.0,
) -> None:
    """The forecaster: follows the feed and issues forecasts, exactly once, until stopped.

    Uses SPORTCAST_NATS_URL (default: the embedded stack's port). On start it rebuilds its
    state from the feed up to its tracked position, then follows new events. Each kind of model
    (football 1X2, NBA, in-play football) without a model file (SPORTCAST_MODEL_FILE,
    SPORTCAST_NBA_MODEL_FILE, SPORTCAST_INPLAY_MODEL_FILE) comes from the registry's champion of
    that kind, and it switches to each newly promoted champion between two events, without a
    pause.
    """
    settings = load_settings(model_file=model_file)
    configure_tracing("sportcast-forecaster", settings.otel_exporter_endpoint)
    try:
        running = running_forecaster(settings, settings.nats_client_url, watch_every=watch_every)
    except (OSError, ValueError, ArtifactError) as exc:
        raise fail("model-unreadable", str(exc)) from None
    assert running is not None
    service = running.service
    serve_metrics(settings, "sportcast-forecaster")
    if FOOTBALL_1X2 not in running.kinds_in_use:
        console.print("no football model file and no champion yet: no pre-match football forecasts")
    stopping = stop_requested()
    running.start()
    console.print(f"forecaster following the feed from position {service.position}")
    # An event it fails on stops it there, logged with the event's position, and it resumes
    # with back-off from that position (docs/adr/0017): it does not exit.
    stopping.wait()
    running.stop()


@serve.command("feed-health")
def serve_feed_health() -> None:
    """Feed health alone: follows the feed, flags odds that went stale, until stopped.

    Uses SPORTCAST_NATS_URL; its NATS user needs the ingest role (it writes the feed-health
    stream). An event it fails on stops it there, logged with the event's position; it resumes
    with back-off (docs/adr/0017). The gateway reads its board from the stream.
    """
    settings = load_settings()
    service = feed_health_service(settings, settings.nats_client_url)
    serve_metrics(settings, "sportcast-feed-health")
    stopping = stop_requested()
    service.start()
    console.print("feed health following the feed (Ctrl-C to stop)")
    stopping.wait()
    service.stop()


@serve.command("checkpointer")
def serve_checkpointer() -> None:
    """Signed checkpoints over the events, forecasts and feed-health streams, every
    SPORTCAST_CHECKPOINT_INTERVAL_SECONDS and once more when stopped (docs/audit.md).

    Uses SPORTCAST_NATS_URL (its NATS user needs the checkpointer role: it writes only the
    streams' checkpoint subject) and the signing keys in SPORTCAST_CHECKPOINT_KEYS_FILE (made,
    0600, when missing). With SPORTCAST_METRICS_PORT: checkpoints written and failed, the
    position covered and the age of the last seal per stream on /metrics.
    """
    settings = load_settings()
    serve_metrics(settings, "sportcast-checkpointer")

    async def main() -> None:
        stopping = stop_requested_async()
        nc = await connect_nats(settings.nats_client_url, name="sportcast-checkpointer")
        checkpointer = build_checkpointer(settings, nc)
        await checkpointer.start()
        console.print("checkpointer sealing the streams (Ctrl-C to stop)")
        try:
            await stopping.wait()
        finally:
            await checkpointer.stop()
            if nc.is_connected:
                await nc.drain()
            else:
                await nc.close()

    asyncio.run(main())


@serve.command("projector")
def serve_projector() -> None:
    """The projector alone: builds every PostgreSQL read model from the event streams, exactly
    once, and follows them until stopped (SIGINT/SIGTERM).

    Uses SPORTCAST_NATS_URL and SPORTCAST_POSTGRES_URL (default: the embedded stack's ports).
    Migrations are applied on start; each projection resumes from its stored position. One
    that fails on an event stops there (see `sportcast projections status`); the others go on.
    """
    settings = load_settings()
    configure_tracing("sportcast-projector", settings.otel_exporter_endpoint)
    serve_metrics(settings, "sportcast-projector")  # projection lag, position, failures

    async def main() -> None:
        stopping = stop_requested_async()
        console.print("projector following the event streams (Ctrl-C to stop)")
        runner = await serve_projector_until(settings, stopping)
        for failed in runner.failed:
            console.print(
                f"projection {failed.name} failed after {failed.failed_stream}"
                f" {failed.failed_position}: {failed.error}",
                markup=False,
            )

    asyncio.run(main())


@serve.command("trainer")
def serve_trainer(
    every: Annotated[float, typer.Option(help="Seconds between retrainings.")] = 86_400.0,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Kinds to retrain (repeat the option; default all: {', '.join(KINDS)})."
        ),
    ] = None,
) -> None:
    """Retrain from the event store every interval (first run at start), register each model,
    and promote it when it is not worse than its kind's champion. Runs beside the forecaster;
    a kind the log holds too little data for is skipped with a message. With
    SPORTCAST_METRICS_PORT: runs by kind and outcome, last duration and last success on
    /metrics."""
    settings = load_settings()
    url = settings.nats_client_url
    try:
        for each in kind or ():
            check_kind(each)
    except DomainError as unknown:
        raise fail(unknown.code, str(unknown)) from None
    serve_metrics(settings, "sportcast-trainer")
    trainer = scheduled_trainer(
        settings,
        url,
        every=every,
        kinds=[TRAINED_KINDS[k] for k in kind] if kind else None,
        on_result=lambda outcome: console.print(outcome, markup=False),
    )
    stopping = stop_requested()
    trainer.start()
    stopping.wait()
    trainer.stop()
    trainer.feeds.close()
    trainer.registry.close()


@app.command()
def version() -> None:
    """Print the sportcast version."""
    import importlib.metadata

    typer.echo(importlib.metadata.version("sportcast"))
