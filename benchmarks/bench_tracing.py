"""What tracing costs: HTTP ingest rate, append latency and forecast latency with tracing on
against off, in the same sitting, as a ratio (issue 17: one trace per feed message, the W3C
context in NATS headers).

One embedded nats-server; each round is a fresh child process (a process's tracer provider is
global and cannot be removed) with its own streams, run alternately off, on, off, on...
(BENCH_ROUNDS pairs, default 2). A round: the gateway's ingest app on the real JetStream intake,
called in process through httpx's ASGI transport (no sockets: the HTTP server's cost is left
out, which makes the ratio an upper bound of what tracing adds to a served request), with a
forecaster (a small real CatBoost model) following the feed in the same process, as in
`sportcast up`. BENCH_FIXTURES fixtures (default 200) are scheduled, then BENCH_QUOTES odds
quotes per fixture (default 10) are posted by BENCH_CONCURRENCY clients (default 16); each
quote moves the prices, so each triggers a forecast.

Tracing on is what an OTLP endpoint turns on (infra/telemetry.install_tracing, as
configure_tracing calls it): an SDK tracer provider, a BatchSpanProcessor, and here an exporter
that counts the spans and drops them (no network). Sampling is the SDK's: every trace by default;
OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1 measures one in ten.
Off is the default: no provider, no span, no header.

Measured per round: quotes accepted per second (wall), the intake's submit latency (command to
events acknowledged: the append, as sportcast_ingest_append_seconds measures it), the HTTP
request latency, the forecast latency (feed event written to forecast stored, as
sportcast_forecast_latency_seconds), CPU seconds per quote, and the spans exported.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from commands.ingestion import Accepted, FeedCommand
from commands.intake import FeedIntake, RefusedPayload
from domain.access import Limits
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.app import create_app
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService
from infra.settings import Settings
from infra.telemetry import install_tracing

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
FIXTURES = int(os.environ.get("BENCH_FIXTURES", "200"))
QUOTES = int(os.environ.get("BENCH_QUOTES", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SAMPLER = " ".join(
    f"{k}={os.environ[k]}"
    for k in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
    if k in os.environ
)
TOKEN = {"Authorization": "Bearer bench-token"}
TOKENS = {"bench-token": "bench"}
NOW = datetime.now(UTC).replace(microsecond=0)
KICKOFF = (NOW + timedelta(days=30)).replace(hour=15, minute=0, second=0)


class CountingExporter(SpanExporter):
    """Takes the spans as an OTLP exporter would, and only counts them."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class TimedIntake:
    """The real intake, with each submit's latency noted."""

    def __init__(self, intake: FeedIntake) -> None:
        self.intake = intake
        self.submits: list[float] = []

    async def keep_raw(self, raw: bytes) -> str:
        return await self.intake.keep_raw(raw)

    async def submit(self, command: FeedCommand) -> Accepted:
        started = time.perf_counter()
        accepted = await self.intake.submit(command)
        self.submits.append(time.perf_counter() - started)
        return accepted

    async def quarantine(self, refused: RefusedPayload) -> int:
        return await self.intake.quarantine(refused)


def fixture_key(i: int) -> dict[str, str]:
    return {
        "sport": "football",
        "competition": "premier-league",
        "kickoff": (KICKOFF + timedelta(hours=i)).isoformat().replace("+00:00", "Z"),
        "home": f"Home {i}",
        "away": f"Away {i}",
    }


def scheduled(i: int) -> dict[str, Any]:
    season = f"{KICKOFF.year - 1}-{KICKOFF.year}"
    return {"type": "scheduled", "event_id": f"fx-{i}", "season": season, **fixture_key(i)}


def quote(i: int, n: int) -> dict[str, Any]:
    home = 2.10 - (n % 50) / 100  # the prices move with every quote: each one is a new forecast
    return {
        "event_id": f"q-{i}-{n}",
        "fixture": fixture_key(i),
        "market": "1x2",
        "prices": {"home": f"{home:.2f}", "draw": "3.40", "away": "3.60"},
        "quoted_at": (NOW - timedelta(hours=1, minutes=-n)).isoformat().replace("+00:00", "Z"),
    }


def install_counting_tracer() -> CountingExporter:
    """Tracing as an OTLP endpoint turns it on, the spans counted instead of sent."""
    exporter = CountingExporter()
    install_tracing("sportcast-bench", exporter)
    return exporter


async def post_all(
    client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]]
) -> list[float]:
    """Post ``bodies`` with CONCURRENCY clients; each request's latency (all must be 202)."""
    latencies: list[float] = []
    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:
            started = time.perf_counter()
            answer = await client.post(path, json=body, headers=TOKEN)
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 202:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


async def ingest(url: str, settings: Settings, timed: list[TimedIntake]) -> dict[str, float]:
    nc = await connect_nats(url, reconnect=False)
    try:
        async with open_intake(settings, url, nc, workers=CONCURRENCY) as intake:
            wrapped = TimedIntake(intake)
            timed.append(wrapped)
            unlimited = Limits(requests_per_minute=1 << 30)  # the budget is not under test
            gate = AccessGate(Authenticator(feed_tokens=TOKENS, feed_token_limits=unlimited))
            app = create_app(version_probes=[], feed_intake=wrapped, access=gate)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                await post_all(client, "/feeds/fixtures", [scheduled(i) for i in range(FIXTURES)])
                wrapped.submits.clear()
                bodies = [quote(i, n) for n in range(QUOTES) for i in range(FIXTURES)]
                started, cpu = time.perf_counter(), time.process_time()
                requests = await post_all(client, "/feeds/odds", bodies)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await nc.close()
    return {
        "quotes": len(bodies),
        "ingest_per_s": len(bodies) / wall,
        "cpu_ms_per_quote": 1000 * cpu / len(bodies),
        "request_p50_ms": percentile(requests, 50),
        "request_p99_ms": percentile(requests, 99),
        "append_p50_ms": percentile(wrapped.submits, 50),
        "append_p99_ms": percentile(wrapped.submits, 99),
    }


def percentile(seconds: list[float], q: int) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def child(mode: str, url: str, model_file: str) -> None:
    exporter = install_counting_tracer() if mode == "on" else None
    name = f"TR{uuid.uuid4().hex[:10].upper()}"
    settings = Settings(nats_url=url, stream_name=name, forecaster_stream=name + "_F")
    env = event_store_env(settings, url)
    service = ForecasterService(
        env, name + "_F", LoadedModel.from_bytes(Path(model_file).read_bytes())
    )
    forecast_latencies: list[float] = []
    service.latency.observers.append(forecast_latencies.append)
    service.start()
    timed: list[TimedIntake] = []
    try:
        figures = asyncio.run(ingest(url, settings, timed))
        head = service.feeds.recorder.max_notification_id() or 0
        deadline = time.monotonic() + 300
        while service.position < head:
            if service.failure is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the forecaster did not catch up: {service.failure}")
            time.sleep(0.05)
    finally:
        service.stop()
    figures["forecasts"] = len(forecast_latencies)
    figures["forecast_p50_ms"] = percentile(forecast_latencies, 50)
    figures["forecast_p99_ms"] = percentile(forecast_latencies, 99)
    if exporter is not None:
        from opentelemetry import trace

        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
        figures["spans"] = exporter.spans
    else:
        figures["spans"] = 0
    print(json.dumps({"mode": mode, **figures}), flush=True)


def small_model() -> bytes:
    from tests.small_models import small_football_model

    return small_football_model()


FIGURES = (
    "ingest_per_s",
    "cpu_ms_per_quote",
    "request_p50_ms",
    "request_p99_ms",
    "append_p50_ms",
    "append_p99_ms",
    "forecast_p50_ms",
    "forecast_p99_ms",
    "forecasts",
    "spans",
)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    print(f"note: {FIXTURES} fixtures x {QUOTES} quotes, {CONCURRENCY} clients, {ROUNDS} pairs")
    print(f"note: sampling {SAMPLER or 'the SDK default (parent-based, always on)'}")
    print("note: load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.cbm"
        model_file.write_bytes(small_model())
        server = EmbeddedNats(
            NatsConfig(store_dir=Path(tmp) / "nats", port=free_port(), monitor_port=free_port())
        )
        server.start()
        try:
            for _ in range(ROUNDS):
                for mode in ("off", "on"):
                    done = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "benchmarks.bench_tracing",
                            "child",
                            mode,
                            server.url,
                            str(model_file),
                        ],
                        capture_output=True,
                        text=True,
                        timeout=900,
                        check=False,
                    )
                    if done.returncode != 0:
                        raise RuntimeError(f"{mode} round failed:\n{done.stderr[-3000:]}")
                    figures = json.loads(done.stdout.strip().splitlines()[-1])
                    print("round", json.dumps(figures), flush=True)
                    results[mode].append(figures)
        finally:
            server.stop()
    print("note: load average at end", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    units = {"ingest_per_s": "quotes/s", "cpu_ms_per_quote": "ms", "forecasts": "count"}
    for name in FIGURES:
        off = statistics.median(r[name] for r in results["off"])
        on = statistics.median(r[name] for r in results["on"])
        unit = units.get(name, "ms" if name.endswith("_ms") else "count")
        print(f"{name}_tracing_off {off:.3f} {unit}")
        print(f"{name}_tracing_on {on:.3f} {unit}")
        if name != "spans":
            print(f"{name}_on_vs_off {on / off:.3f} x")
    print("peer: the same rounds with tracing off (no provider), alternated in the same sitting")


if __name__ == "__main__":
    main()
