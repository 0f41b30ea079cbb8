"""``sportcast store ...``: is the store whole?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from infra.cli_console import console
from infra.settings import Settings
from infra.store_check import heads_book, keep_heads, run_store_check
from infra.store_seal import accept_breaks

app = typer.Typer(help="The event store's health: check its streams on demand.")
out = console()
err = console(stderr=True)


@app.command()
def check(
    full: Annotated[
        bool, typer.Option(help="Also read every event and verify the hash chains (slow).")
    ] = False,
    accept_damage: Annotated[
        bool,
        typer.Option(
            help="Record the streams' heads as they are now, damage included, so starts stop"
            " refusing (after the damage was looked at)."
        ),
    ] = False,
) -> None:
    """Check every stream: the server's loss reports, missing sequences, the heads recorded in
    the data directory (a stream cut short), and with --full each event's hash chain.

    Exits 1 when something is damaged."""
    settings = Settings()
    url = settings.nats_client_url
    try:
        found = run_store_check(settings, url, full=full)
    except OSError as exc:
        err.print(f"[bold red]error[/] \\[nats-unreachable] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    for stream in found.streams:
        head = found.heads.get(stream)
        out.print(f"{stream}: {head.seq if head else 0} messages checked", markup=False)
    if accept_damage:
        found.problems.clear()
        keep_heads(heads_book(settings), found)
        accept_breaks(settings.nats_store_dir)
        out.print("heads recorded as they are now")
        return
    for problem in found.problems:
        err.print(f"[bold red]damaged[/] {escape(str(problem))}", soft_wrap=True)
    if not found.ok:
        raise typer.Exit(1)
    keep_heads(heads_book(settings), found)
    out.print("the store is whole")
