"""``sportcast serve gateway --workers N``: N gateway processes behind one port.

uvicorn's own process manager (``uvicorn.supervisors.Multiprocess``, what ``uvicorn
--workers`` runs) starts N spawned workers, replaces a worker that dies or stops answering,
and stops them all on SIGINT/SIGTERM. Each worker listens on a socket of its own bound with
``SO_REUSEPORT`` to the same address, so the kernel spreads new connections evenly over the
workers by a hash of each connection's addresses; with one shared listening socket whichever
worker woke first took the connection (one bench run: 41,791 answers by one worker, 1,197 by
the other; another: all 64 connections on one worker). The supervisor holds the port with a
socket bound the same way but never listening (no connection is queued on it): a port taken by
another program fails at once, and while a worker is being replaced the port stays ours.

Each worker builds ``bootstrap.http_gateway``: ingest, reads and SSE with its own hub. What
follows the logs and writes (feed health, the forecaster, the checkpoints) runs once, as its
own service (``sportcast serve feed-health|forecaster|checkpointer``), never in a worker
(docs/adr/0026).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from infra.http_handover import HandoverHttpToolsProtocol
from infra.settings import Settings

HTTP_GATEWAY = "infra.bootstrap:http_gateway"
HEALTHCHECK_SECONDS = 60
"""How long a worker may take to answer the supervisor's ping before it is taken for hung and
replaced. A spawned worker imports the whole application before it can answer: uvicorn's 5 s
default replaced workers that were only starting on a loaded machine, over and over."""
BACKLOG = 2048
"""Each worker's accept queue (uvicorn's default)."""


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT (and SO_REUSEADDR, for a restart
    over connections in TIME_WAIT), not listening yet. Only sockets of the same user may
    share the port this way."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listening_here(host: str, port: int) -> list[socket.socket]:
    """Run in a worker as it starts: its own socket on the shared port. uvicorn makes it
    listen once the app has started (``create_server``), so no connection waits in the
    queue of a worker still importing or starting the app."""
    return [reuseport_socket(host, port)]


class OwnListeners(list[socket.socket]):
    """The sockets uvicorn's supervisor hands to every worker it spawns (it pickles them into
    the new process): empty here, and unpickled in the worker as a socket of the worker's own
    (``listening_here``), never one shared with the others."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, ...]:
        return listening_here, (self.host, self.port)


def serve_workers(
    app: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    access_log: bool = False,
    http: type[asyncio.Protocol] | str = "auto",
) -> None:
    """Serve the app factory ``app`` (``module:function``) in ``workers`` processes until
    SIGINT/SIGTERM (blocking; call from the main thread: it takes the signals). ``http``:
    uvicorn's HTTP protocol."""
    config = uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        log_level=log_level,
        access_log=access_log,
        backlog=BACKLOG,
        http=http,
    )
    held = reuseport_socket(host, port)  # the port stays ours; no connection waits on it
    try:
        Multiprocess(config, sockets=OwnListeners(host, port)).run()
    finally:
        held.close()


def serve_gateway_workers(settings: Settings, workers: int) -> None:
    """``sportcast serve gateway --workers N``: the gateway in N processes (see the module)."""
    serve_workers(
        HTTP_GATEWAY,
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=settings.gateway_access_log,
        http=HandoverHttpToolsProtocol,  # streams take their connections (ADR 0036)
    )
