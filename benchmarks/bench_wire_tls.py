"""Our read path under TLS: every record a read brought in decrypted at once (wire_tls.py) vs
``SSLSocket.recv``, one record per call (the way before), A/B in one process, same server.

Run: python -m benchmarks.bench_wire_tls   (BENCH_ROUNDS=3, BENCH_EVENTS=100000)

One TLS + NKey nats-server (benchmarks/secure.py's set-up, forced on), one stream of
BENCH_EVENTS 300-byte events; each round reads the whole stream through the event store's
``select_notifications`` (10,000 a page) and loads one 1,000-event aggregate 20 times with the
buffered TLS and with the previous SSLSocket wrap put back in place, then through nats-py (the
peer the closing note compared against). Prints ``name value unit`` lines and the
ratio buffered / SSLSocket per round (which side goes first alternates; one warm-up read).
"""

from __future__ import annotations

import os
import socket
import ssl
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from benchmarks import secure
from benchmarks.bench_eventstore import PAYLOAD, read_every_notification
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.eventstore import JetStreamFactory, wire
from infra.eventstore.security import NatsSecurity
from infra.eventstore.wire_protocol import Endpoint

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))


def out(name: str, value: float, unit: str) -> None:
    print(f"{name} {value:.3f} {unit}", flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _socket_tls(
    sock: socket.socket, endpoint: Endpoint, security: NatsSecurity, deadline: float
) -> ssl.SSLSocket:
    """The wrap before wire_tls.py (one record per recv)."""
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    return security.ssl_context().wrap_socket(sock, server_hostname=endpoint.host)


@contextmanager
def sslsocket_reads() -> Iterator[None]:
    buffered = wire._start_tls
    wire._start_tls = _socket_tls  # type: ignore[assignment]
    try:
        yield
    finally:
        wire._start_tls = buffered


def read_all(rec: ApplicationRecorder) -> tuple[float, float]:
    """Events per second of wall time and per second of this process's CPU time (the latter
    is what the change saves, and is less disturbed by the shared machine's load)."""
    started, cpu = time.perf_counter(), time.process_time()
    seen = read_every_notification(rec)
    assert seen == EVENTS + 1000, seen
    return seen / (time.perf_counter() - started), seen / (time.process_time() - cpu)


def aggregate_p50(rec: ApplicationRecorder, aggregate: uuid.UUID) -> float:
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert len(rec.select_events(aggregate)) == 1000
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure(
    url: str, stream: str, aggregate: uuid.UUID, wire_on: bool
) -> tuple[float, float, float]:
    """A fresh reader (new connections, made under the TLS wrap in force)."""
    factory = JetStreamFactory(
        {
            "NATS_URL": url,
            "NATS_STREAM": stream,
            "NATS_LINK": "own",
            "NATS_WIRE": "yes" if wire_on else "no",
            **secure.store_env(),
        }
    )
    try:
        rec = factory.application_recorder()
        rate, per_cpu = read_all(rec)
        return rate, per_cpu, aggregate_p50(rec, aggregate)
    finally:
        factory.close()


def timed(name: str, run: Callable[[], tuple[float, float, float]]) -> tuple[float, float]:
    rate, per_cpu, p50 = run()
    out(f"{name}.select_notifications_rate", rate, "events/s")
    out(f"{name}.select_notifications_per_cpu_second", per_cpu, "events/cpu-s")
    out(f"{name}.aggregate_load_1000_p50", p50, "ms")
    return rate, per_cpu


def main() -> None:
    secure.SECURE = True  # this benchmark is about TLS: always TLS + NKey
    print("peer: the same reads through SSLSocket (before) and nats-py, same process and server")
    print("note: load average at start", load())
    with tempfile.TemporaryDirectory(prefix="bench-wire-tls-") as tmp:
        server = EmbeddedNats(
            NatsConfig(
                store_dir=Path(tmp),
                port=free_port(),
                monitor_port=free_port(),
                sync_always=False,
                **secure.server_options(),
            )
        )
        server.start()
        try:
            stream = f"T{uuid.uuid4().hex[:8]}"
            factory = JetStreamFactory(
                {"NATS_URL": server.url, "NATS_STREAM": stream, **secure.store_env()}
            )
            rec = factory.application_recorder()
            aggregate = uuid.uuid4()
            rec.insert_events([StoredEvent(aggregate, v, "t", PAYLOAD) for v in range(1, 1001)])
            batches = [
                [StoredEvent(uuid.uuid4(), 1, "t", PAYLOAD) for _ in range(100)]
                for _ in range(EVENTS // 100)
            ]
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(rec.insert_events, batches))
            factory.close()
            measure(server.url, stream, aggregate, True)  # warm-up: caches, server pages
            for round_ in range(1, ROUNDS + 1):
                print(f"note: round {round_}, load average {load()}", flush=True)

                def with_buffered(r: int = round_) -> tuple[float, float]:
                    return timed(
                        f"r{r}.buffered_tls", lambda: measure(server.url, stream, aggregate, True)
                    )

                def with_sslsocket(r: int = round_) -> tuple[float, float]:
                    with sslsocket_reads():
                        return timed(
                            f"r{r}.sslsocket", lambda: measure(server.url, stream, aggregate, True)
                        )

                if round_ % 2:  # which goes first alternates
                    buffered, before = with_buffered(), with_sslsocket()
                else:
                    before, buffered = with_sslsocket(), with_buffered()
                timed(f"r{round_}.nats_py", lambda: measure(server.url, stream, aggregate, False))
                out(f"r{round_}.ratio_buffered_vs_sslsocket", buffered[0] / before[0], "x")
                out(f"r{round_}.ratio_buffered_vs_sslsocket_cpu", buffered[1] / before[1], "x")
        finally:
            server.stop()
    print("note: load average at end", load())


if __name__ == "__main__":
    main()
