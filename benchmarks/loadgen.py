"""A small HTTP/1.1 keep-alive load generator (used when wrk is not installed): several
processes, each with its own event loop and ``connections / processes`` sockets, each socket
sending one request at a time and timing it."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from urllib.parse import urlsplit

PROCESSES = 2


async def _client(
    host: str,
    port: int,
    requests: list[bytes],
    until: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.split(b" ")[1].startswith((b"2", b"3")):
                errors[0] += 1
    finally:
        writer.close()


def _process(
    base: str,
    paths: list[str],
    token: str,
    seconds: float,
    connections: int,
    out: multiprocessing.Queue[tuple[list[float], int]],
) -> None:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for p in paths
    ]
    latencies: list[float] = []
    errors = [0]

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _client(host, port, requests[k:] + requests[:k], until, latencies, errors)
                for k in range(connections)
            )
        )

    asyncio.run(run())
    out.put((latencies, errors[0]))


def generate(
    base: str, ids: list[uuid.UUID], token: str, seconds: float, connections: int
) -> tuple[float, float, float, int]:
    """requests/s, p50 ms, p99 ms, non-2xx/3xx responses."""
    paths = [f"/v1/fixtures/{i}/forecasts/latest" for i in ids]
    out: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_process, args=(base, paths, token, seconds, connections // PROCESSES, out)
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    latencies: list[float] = []
    errors = 0
    for _ in procs:
        got, bad = out.get()
        latencies += got
        errors += bad
    for p in procs:
        p.join()
    latencies.sort()
    n = len(latencies)
    return n / seconds, latencies[n // 2] * 1000, latencies[int(n * 0.99)] * 1000, errors
