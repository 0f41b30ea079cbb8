"""The ``sportcast`` command line. Each command reads settings once and wires through bootstrap.

Commands live in their own modules and are imported only when used (``infra.cli_lazy``,
docs/adr/0039): ``sportcast --help`` or ``sportcast audit verify --help`` do not import the
forecasting, analytics or HTTP stacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from infra.cli_lazy import Lazy, LazyGroup
from infra.nats_identity import use_nats_security

if TYPE_CHECKING:
    from infra.eventstore.security import NatsSecurity


class SportcastCommands(LazyGroup):
    lazy = {
        "up": Lazy(
            "infra.cli_up",
            "app",
            "Start the whole system on the embedded stack and serve until Ctrl-C.",
            group=False,
        ),
        "serve": Lazy(
            "infra.cli_serve",
            "serve",
            "Run one service against already running NATS and PostgreSQL.",
        ),
        "feed": Lazy(
            "infra.cli_feed", "app", "Feeds: dataset replay, the demo simulator, the quarantine."
        ),
        "model": Lazy(
            "infra.cli_model",
            "app",
            "Models of every kind (football 1X2, NBA, in-play football): train into the "
            "registry, list, promote, evaluate; or train the in-play and NBA models to a file.",
        ),
        "store": Lazy(
            "infra.cli_store", "app", "The event store's health: check its streams on demand."
        ),
        "audit": Lazy(
            "infra.cli_audit",
            "app",
            "Audit the log: integrity, forecasts re-derived, timelines, exports.",
        ),
        "keys": Lazy("infra.cli_keys", "app", "API keys: create, list and revoke."),
        "analytics": Lazy(
            "infra.cli_analytics",
            "app",
            "Analytics tables for the dashboards and their named queries.",
        ),
        "projections": Lazy(
            "infra.cli_projections",
            "app",
            "The PostgreSQL read models: where each projection stands, and rebuilding one.",
        ),
        "replay": Lazy(
            "infra.cli_replay",
            "app",
            "Build the read models as they were at --until into new schemas beside the live "
            "ones, by the projections' own code (as `projections rebuild` does), so an auditor "
            "can query the state the system saw.",
            group=False,
        ),
        "nats": Lazy(
            "infra.cli_nats",
            "nats_app",
            "NATS set-up: streams (as the admin user) and users per service.",
        ),
        "certs": Lazy("infra.cli_nats", "certs_app", "Certificates for the NATS cluster's TLS."),
    }


app = typer.Typer(
    name="sportcast",
    cls=SportcastCommands,
    help="Event-sourced sports forecasting on NATS JetStream.",
    no_args_is_help=True,
    add_completion=False,
)


def configured_nats_security() -> NatsSecurity:
    """The NATS TLS and credentials from the settings, read when a connection first needs them."""
    from infra.settings import Settings

    return Settings().nats_security()


@app.callback()
def main() -> None:
    """Event-sourced sports forecasting on NATS JetStream."""
    # Every command's NATS connections use the configured TLS and credentials.
    use_nats_security(configured_nats_security)


@app.command()
def version() -> None:
    """Print the sportcast version."""
    import importlib.metadata

    typer.echo(importlib.metadata.version("sportcast"))
