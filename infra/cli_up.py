"""``sportcast up``: the whole system on the embedded stack, served until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from infra.bootstrap import build_gateway
from infra.cli_common import (
    console,
    fail,
    gateway_server,
    load_settings,
    log_as_a_service,
    refuse_damaged_store,
    shout,
    without_password,
)
from infra.connections import ensure_database
from infra.demo import demo_key
from infra.demo_replay import DatasetMissing, ReplaySource, check_dataset
from infra.embedded.lock import DataDirInUse
from infra.embedded.ports import PortInUseError, ServiceStartError, ensure_port_free
from infra.embedded.stack import EmbeddedStack
from infra.embedded.supervisor import Supervisor
from infra.nats_identity import use_nats_security
from infra.settings import Durability
from infra.store_check import StoreWatch

app = typer.Typer(add_completion=False)


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
        server = gateway_server(settings, gateway)

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
