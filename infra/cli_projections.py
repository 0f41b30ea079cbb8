"""``sportcast projections ...``: the read models' status, and rebuilding one from zero."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from infra.analytics.mirror import NAME as ANALYTICS
from infra.cli_analytics import rebuild as rebuild_analytics
from infra.cli_console import console
from infra.cli_reach import StackUnreachable
from infra.cli_reach import on_stack as reach
from infra.projections.report import stack_report
from infra.projections.wiring import open_logs
from infra.settings import Settings
from projections.catalogue import POSTGRES_PROJECTIONS
from projections.rebuild import RebuildFailed, rebuild

app = typer.Typer(
    help="The PostgreSQL read models: where each projection stands, and rebuilding one.",
    no_args_is_help=True,
)
out = console()
err = console(stderr=True)
T = TypeVar("T")
REBUILDABLE = (*POSTGRES_PROJECTIONS, ANALYTICS)


def fail(code: str, message: str, exit_code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}", soft_wrap=True)
    return typer.Exit(exit_code)


def on_stack(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """``work`` on the stack; one it cannot reach is one line with a stable code, exit 2."""
    try:
        return reach(settings, work)
    except StackUnreachable as exc:
        raise fail(exc.code, str(exc)) from None


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Each projection's position per stream, its lag in events and in seconds (the age of the
    oldest event it has not applied), and its state (live, catching-up, failed with the
    position it stopped after and the error, not-started). The analytics projection is listed
    from the standing it copies to PostgreSQL. Exits 1 if one has failed."""
    settings = Settings()

    rows = on_stack(settings, lambda: stack_report(settings))
    if as_json:
        for r in rows:
            typer.echo(json.dumps({**r.__dict__, "lag_events": r.lag_events}))
    else:
        table = Table("projection", "stream", "position", "head", "lag events", "lag s", "state")
        for r in rows:
            state = r.state if r.error is None else f"{r.state}: {r.error}"
            table.add_row(
                r.projection,
                r.stream,
                str(r.position),
                str(r.head),
                str(r.lag_events),
                f"{r.lag_seconds:.1f}",
                escape(state),
            )
        out.print(table)
    if any(r.state == "failed" for r in rows):
        raise typer.Exit(1)


@app.command("rebuild")
def rebuild_command(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(REBUILDABLE)}.")],
    page_events: Annotated[int, typer.Option(min=1, help="Events applied per transaction.")] = 5000,
    within: Annotated[
        float, typer.Option(min=1.0, help="analytics: seconds to follow the stack's rebuild.")
    ] = 3600.0,
) -> None:
    """Build NAME from zero into a fresh schema while the live one keeps serving, then switch
    the new one in atomically (one transaction renames the schemas). A running projector
    carries on from the rebuilt schema's position. analytics (its DuckDB file) is rebuilt as
    by `sportcast analytics rebuild`: the process holding the file builds fresh tables beside
    its live ones and switches them in in one transaction."""
    if name == ANALYTICS:
        rebuild_analytics(within=within, taken_within=30.0)
        return
    kind = POSTGRES_PROJECTIONS.get(name)
    if kind is None:
        raise fail(
            "unknown-projection",
            f"no projection {name!r}; there are {', '.join(REBUILDABLE)}",
        )
    settings = Settings()

    async def work() -> None:
        async with open_logs(settings, settings.nats_client_url, reconnect=False) as logs:
            done = await rebuild(
                kind, logs.logs, settings.postgres_client_url, page_size=page_events
            )
        rate = done.events / done.seconds if done.seconds else 0.0
        out.print(
            f"[bold green]rebuilt[/] {done.projection}: {done.events} events in"
            f" {done.seconds:.1f} s ({rate:,.0f}/s), switched in at {done.positions}"
        )

    try:
        on_stack(settings, work)
    except RebuildFailed as exc:
        raise fail(exc.code, str(exc), exit_code=1) from None
