"""What the long-running commands (`up`, `serve ...`) share: errors with a stable code,
settings, logging, stopping on a signal, /metrics for a service without HTTP."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import prometheus_client
import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from infra.http_handover import HandoverHttpToolsProtocol
from infra.process_logging import UnknownLogLevel, configure_logging
from infra.settings import Settings
from infra.store_check import StoreCheck
from infra.telemetry import configure_metrics

if TYPE_CHECKING:
    from fastapi import FastAPI

console = Console(stderr=True)


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


def gateway_server(settings: Settings, gateway: FastAPI) -> uvicorn.Server:
    """uvicorn serving ``gateway`` on the configured address, in this process."""
    return uvicorn.Server(
        uvicorn.Config(
            gateway,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level=settings.log_level.lower(),
            access_log=settings.gateway_access_log,
            http=HandoverHttpToolsProtocol,  # streams take their connections (ADR 0036)
        )
    )
