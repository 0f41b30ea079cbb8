"""``sportcast feed health``: time since each source's last odds update, per competition.

Reads the feed-health process's own stream (the process itself runs with the gateway, see
infra/feed_health.py); this command does not follow the feed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from domain.feed_health import FeedPulse
from infra.bootstrap import feed_health_app
from infra.cli_console import console
from infra.eventstore.errors import EventStoreUnavailable
from infra.feed_health import DEFAULT_STREAM
from infra.settings import Settings

app = typer.Typer(
    help="Feed health: time since the last odds update, per source and competition.",
    invoke_without_command=True,
)
out = console()
err = console(stderr=True)


def pulse_table(rows: list[FeedPulse], now: datetime) -> Table:
    table = Table("source", "competition", "last quote (UTC)", "since", title=f"as of {now:%c}")
    for r in rows:
        table.add_row(
            r.source,
            r.competition,
            r.last_quote_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            _ago(r.seconds_since),
        )
    return table


def pulses_json(rows: list[FeedPulse], now: datetime) -> dict[str, object]:
    return {
        "as_of": now.isoformat(),
        "feeds": [
            {
                "source": r.source,
                "competition": r.competition,
                "last_quote_at": r.last_quote_at.astimezone(UTC).isoformat(),
                "seconds_since": r.seconds_since,
            }
            for r in rows
        ],
    }


def _ago(seconds: float) -> str:
    if seconds < 0:
        return f"in {_ago(-seconds)} (clock skew)"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    return f"{days}d {h:02}:{m:02}:{s:02}" if days else f"{h:02}:{m:02}:{s:02}"


@app.callback()
def health(
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until Ctrl-C.")] = False,
    every: Annotated[float, typer.Option(help="Seconds between refreshes with --watch.")] = 5.0,
    stream: Annotated[str, typer.Option(help="The feed-health process's stream.")] = DEFAULT_STREAM,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document per refresh on stdout.")
    ] = False,
) -> None:
    """Per source and competition: the last odds update and the time since, stalest first."""
    settings = Settings()
    url = settings.nats_client_url
    try:
        process = feed_health_app(settings, url, stream)
    except EventStoreUnavailable as exc:
        err.print(
            f"[bold red]error[/] \\[nats-unreachable] {exc}. "
            "Start the stack with `sportcast up`, or set SPORTCAST_NATS_URL."
        )
        raise typer.Exit(2) from None
    try:
        while True:
            now = datetime.now(UTC)
            rows = process.feed_pulses(now)
            if as_json:
                print(json.dumps(pulses_json(rows, now)), flush=True)
            else:
                if watch:
                    out.clear()
                out.print(pulse_table(rows, now))
                out.print(f"{len(rows)} feeds" if rows else "no odds seen yet")
            if not watch:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        pass
    finally:
        process.close()
