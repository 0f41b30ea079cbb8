"""``sportcast replay``: the PostgreSQL read models as they were at a position or a time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from infra.audit.errors import AuditError
from infra.audit.store import open_log, served_copy
from infra.cli_console import console
from infra.projections.replay_cut import resolve_cut
from infra.projections.wiring import log_streams, open_logs
from infra.settings import Settings
from projections.catalogue import POSTGRES_PROJECTIONS
from projections.replay import Replayed, ReplayError, replay

out = console()
err = console(stderr=True)


app = typer.Typer(add_completion=False)


@app.command("replay")
def replay_command(
    until: Annotated[
        str,
        typer.Option(
            "--until",
            help="Where to stop: N (= events=N), LOG=N[,LOG=N...] with LOG one of events, "
            "forecasts, feed_health, quarantine (logs not named stop at the moment the newest "
            "named message was stored), or an ISO 8601 time (every log up to the last message "
            "the server stored at or before it; no offset = UTC). Positions are inclusive.",
        ),
    ],
    schema: Annotated[
        str,
        typer.Option(
            "--schema",
            help="The replay's name: the cut goes in schema NAME, each read model in "
            "NAME_<projection> (laid out as the live rm_<projection>). Must not exist yet.",
        ),
    ],
    projection: Annotated[
        list[str] | None,
        typer.Option(help=f"Only these (default all: {', '.join(POSTGRES_PROJECTIONS)})."),
    ] = None,
    nats_url: Annotated[
        str | None, typer.Option("--nats-url", help="The log's NATS (default: settings).")
    ] = None,
    store_dir: Annotated[
        Path | None,
        typer.Option(
            "--store-dir",
            help="Replay from a copy of a JetStream store directory instead (the stack's data "
            "dir, its nats/ dir or the jetstream/ dir), served by a private loopback "
            "nats-server over a temporary copy.",
        ),
    ] = None,
    postgres_url: Annotated[
        str | None,
        typer.Option("--postgres-url", help="Where to build (default: the settings' database)."),
    ] = None,
    page_events: Annotated[int, typer.Option(min=1, help="Events applied per transaction.")] = 5000,
    as_json: Annotated[bool, typer.Option("--json", help="The result as one JSON object.")] = False,
) -> None:
    """Build the read models as they were at --until into new schemas beside the live ones, by
    the projections' own code (as `projections rebuild` does), so an auditor can query the
    state the system saw. Errors: bad-range, bad-schema-name, schema-exists,
    store-unreachable, replay-failed (exit 2); nothing is left behind by a failed replay."""
    unknown = sorted(set(projection or ()) - set(POSTGRES_PROJECTIONS))
    if unknown:
        _fail(
            "unknown-projection",
            f"no projection {', '.join(unknown)}; there are {', '.join(POSTGRES_PROJECTIONS)}",
        )
    kinds = [POSTGRES_PROJECTIONS[n] for n in projection or POSTGRES_PROJECTIONS]
    settings = Settings()
    url = nats_url or settings.nats_client_url

    async def work() -> tuple[Replayed, dict[str, str | None]]:
        if store_dir is None:
            return await replay_from(url)
        async with served_copy(store_dir) as copy_url:
            return await replay_from(copy_url)

    async def replay_from(url: str) -> tuple[Replayed, dict[str, str | None]]:
        async with open_log(url=url) as nc:
            cut = await resolve_cut(nc, log_streams(settings), until)
        async with open_logs(settings, url, reconnect=False, read_only=True) as logs:
            done = await replay(
                kinds,
                logs.logs,
                cut,
                postgres_url or settings.postgres_client_url,
                schema,
                page_size=page_events,
            )
        times = {s: (t.isoformat() if t else None) for s, t in cut.stored_at.items()}
        return done, times

    try:
        done, times = asyncio.run(work())
    except (ReplayError, AuditError) as error:
        _fail(error.code, str(error))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "name": done.name,
                    "until": until,
                    "schemas": done.schemas,
                    "positions": done.positions,
                    "stored_at": {s: times.get(s) for s in done.positions},
                    "events": done.events,
                    "seconds": round(done.seconds, 3),
                }
            )
        )
        return
    cut_text = ", ".join(f"{s}={p} ({times.get(s) or 'empty'})" for s, p in done.positions.items())
    out.print(
        f"[bold green]replayed[/] {len(done.schemas) - 1} read models into"
        f" {escape(', '.join(done.schemas[1:]))} ({done.events} events, {done.seconds:.1f} s);"
        f" cut at {escape(cut_text)}; the cut is in {escape(done.name)}.replay_cut"
    )


def _fail(code: str, message: str) -> NoReturn:
    err.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}")
    raise typer.Exit(2)
