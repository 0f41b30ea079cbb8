"""``sportcast serve gateway --workers N``: N gateway processes behind one port.

uvicorn's own process manager (``uvicorn.supervisors.Multiprocess``, what ``uvicorn
--workers`` runs) binds the port once, starts N spawned workers on that socket, replaces a
worker that dies or stops answering, and stops them all on SIGINT/SIGTERM. Each worker builds
``bootstrap.http_gateway``: ingest, reads and SSE with its own hub. What follows the logs and
writes (feed health, the forecaster, the checkpoints) runs once, as its own service
(``sportcast serve feed-health|forecaster|checkpointer``), never in a worker (docs/adr/0026).
"""

from __future__ import annotations

import uvicorn
from uvicorn.supervisors import Multiprocess

from infra.settings import Settings

HTTP_GATEWAY = "infra.bootstrap:http_gateway"
HEALTHCHECK_SECONDS = 60
"""How long a worker may take to answer the supervisor's ping before it is taken for hung and
replaced. A spawned worker imports the whole application before it can answer: uvicorn's 5 s
default replaced workers that were only starting on a loaded machine, over and over."""


def serve_workers(settings: Settings, workers: int) -> None:
    """Serve until SIGINT/SIGTERM (blocking; call from the main thread: it takes the signals)."""
    config = uvicorn.Config(
        HTTP_GATEWAY,
        factory=True,
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        log_level=settings.log_level.lower(),
        access_log=settings.gateway_access_log,
    )
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
