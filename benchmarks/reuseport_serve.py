"""One uvicorn process on a socket of its own with SO_REUSEPORT, for bench_rest's
``BENCH_REUSEPORT=1``: one such process per core, and the kernel spreads connections evenly
over their sockets. uvicorn's ``--workers`` share one listening socket, and under a burst of
connects one worker may take most of them (seen: 41,791 answers by one worker, 1,197 by the
other in one run).

Usage: ``python -m benchmarks.reuseport_serve MODULE:FACTORY PORT ACCESS_LOG(0|1)``.
"""

from __future__ import annotations

import socket
import sys

import uvicorn


def main() -> None:
    app, port, access_log = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app,
        factory=True,
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        log_level="info" if access_log else "warning",
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
