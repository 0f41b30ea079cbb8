"""An app factory served as production serves the gateway with ``--workers N``
(``infra.gateway_workers.serve_workers``: uvicorn's process manager, one SO_REUSEPORT socket
per worker), so that bench_rest serves the gateway and its peers alike.

Usage: ``python -m benchmarks.serve_workers MODULE:FACTORY PORT WORKERS ACCESS_LOG(0|1)``.
"""

from __future__ import annotations

import sys

from infra.gateway_workers import serve_workers


def main() -> None:
    app, port, workers, access_log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    serve_workers(
        app,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="info" if access_log == "1" else "warning",
        access_log=access_log == "1",
    )


if __name__ == "__main__":
    main()
