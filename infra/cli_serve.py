"""``sportcast serve ...``: one service against already running NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from domain.errors import DomainError
from domain.model_registry import FOOTBALL_1X2, KINDS, check_kind
from infra.bootstrap import (
    build_checkpointer,
    build_gateway,
    feed_health_service,
    running_forecaster,
    scheduled_trainer,
)
from infra.cli_common import (
    console,
    fail,
    gateway_server,
    load_settings,
    log_as_a_service,
    serve_metrics,
    stop_requested,
    stop_requested_async,
)
from infra.connections import connect_nats
from infra.forecasting.artifacts import ArtifactError
from infra.forecasting.lifecycle import KINDS as TRAINED_KINDS
from infra.gateway_workers import serve_gateway_workers
from infra.projections.wiring import serve_projector as serve_projector_until
from infra.telemetry import configure_tracing

serve = typer.Typer(help="Run one service against already running NATS and PostgreSQL.")


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
    server = gateway_server(settings, gateway)
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
