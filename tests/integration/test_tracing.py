"""One feed message, one trace: a goal posted over HTTP is followed, through the W3C context in
the stored messages' headers, by the event store, the forecaster, the projections and the SSE
gateway (real nats-server and PostgreSQL; spans kept in memory, nothing exported)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import get_meter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from prometheus_client import REGISTRY, generate_latest

from gateway.streams.hub import HubSettings
from gateway.streams.metrics import StreamMetrics
from infra.connections import connect_nats
from infra.eventstore.reader import DirectReader
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import StreamVerifier
from infra.forecasting.metrics import instrument_forecaster
from infra.forecasting.model_file import LoadedInPlayModel, LoadedModel
from infra.forecasting.service import ForecasterService
from infra.projections.logs import StoreEventLog
from infra.projections.metrics import instrument_projector
from infra.telemetry import configure_metrics
from projections.catalogue import postgres_projections
from projections.log import EventLog
from projections.runner import ProjectionRunner
from tests.http_ingest import FIXTURE_KEY, QUOTE, SCHEDULED, A, ingest_client
from tests.small_models import small_football_model, small_inplay_model
from tests.sse_support import read_frames, serve_streams

pytestmark = pytest.mark.slow


class _Switch(Sampler):
    """Records root spans only while a test asks: the process's tracer provider is global and
    outlives the test, and other tests must see tracing as it is by default (off)."""

    on = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP)

    def get_description(self) -> str:
        return "switch"


_switch = _Switch()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(sampler=ParentBased(root=_switch))
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _switch.on = True
    try:
        yield exporter
    finally:
        _switch.on = False
        exporter.shutdown()


def _trace(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.context and s.context.trace_id == trace_id]


def test_one_ingested_goal_is_one_connected_trace_through_every_component(
    nats_url: str, postgres_url: str, unique_name: str, spans: InMemorySpanExporter
) -> None:
    events, forecasts = unique_name, unique_name + "_F"
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url, "NATS_STREAM": events}
    service = ForecasterService(
        env,
        forecasts,
        LoadedModel.from_bytes(small_football_model()),
        inplay_model=LoadedInPlayModel.from_bytes(small_inplay_model()),
    )
    configure_metrics("sportcast-test")  # the process's meter provider, read by /metrics
    before = _scrape()
    instrument_forecaster(service)
    service.start()
    try:
        with ingest_client(nats_url, events) as api:
            for path, body in (
                ("/feeds/fixtures", SCHEDULED),
                ("/feeds/odds", QUOTE),
                (
                    "/feeds/match-events",
                    {"type": "started", "event_id": "ko", "fixture": FIXTURE_KEY},
                ),
            ):
                assert api.http.post(path, json=body, headers=A).status_code == 202
            goal = asyncio.run(
                _goal_through_the_gateway(api, nats_url, postgres_url, events, forecasts)
            )
        running = _scrape()  # the forecaster has processed the goal: nothing behind
        assert "sportcast_forecaster_lag_events{" in running
        assert _value(running, "sportcast_forecaster_lag_events", "") == 0
    finally:
        service.stop()

    # FastAPI's own request spans stay off (gateway/app.py): they would make traces of their
    # own, beside the one our ingest span continues.
    scopes = {s.instrumentation_scope.name for s in spans.get_finished_spans()}
    assert "fastapi" not in scopes, scopes
    ingest = [s for s in spans.get_finished_spans() if s.name == "ingest match-event"]
    roots = [s for s in ingest if s.attributes and s.start_time and s.start_time >= goal]
    assert len(roots) == 1, [s.name for s in ingest]
    root = roots[0]
    assert root.context is not None
    assert root.parent is None
    found = _trace(spans, root.context.trace_id)
    names = sorted(s.name for s in found)
    streams = {
        s.attributes.get("messaging.destination.name")
        for s in found
        if s.name == "eventstore.append" and s.attributes
    }
    assert streams == {events, forecasts}, names  # the goal, and the forecast it triggered
    assert "forecaster.process" in names, names
    assert {"projection.apply fixtures", "projection.apply forecasts"} <= set(names), names
    logs = {
        s.attributes.get("sportcast.log") for s in found if s.name == "sse.fan-out" and s.attributes
    }
    assert logs == {"events", "forecasts"}, names
    # Connected: every span but the root has its parent inside the trace.
    ids = {s.context.span_id for s in found if s.context}
    orphans = [
        s.name for s in found if s is not root and (s.parent is None or s.parent.span_id not in ids)
    ]
    assert not orphans, orphans

    # The goal's forecast latency, the forecaster's lag, the SSE delivery latency and the
    # ingest's rate and append latency are on /metrics (the registry it serves).
    after = _scrape()
    for name, labels in (
        ("sportcast_forecast_latency_seconds_count", ""),
        ("sportcast_sse_delivery_latency_seconds_count", 'log="events"'),
        ("sportcast_sse_delivery_latency_seconds_count", 'log="forecasts"'),
    ):
        assert _value(after, name, labels) >= _value(before, name, labels) + 1, name
    # The ingest rate and append latency count every accepted feed command (four were posted).
    for name, labels in (
        ("sportcast_ingest_commands_total", 'duplicate="false"'),
        ("sportcast_ingest_append_seconds_count", ""),
    ):
        assert _value(after, name, labels) >= _value(before, name, labels) + 4, name
    # Bounds in seconds (the SDK's defaults are for milliseconds: 5, 10, 25, ...).
    assert 'sportcast_forecast_latency_seconds_bucket{le="0.01"' in after
    assert 'sportcast_sse_delivery_latency_seconds_bucket{le="0.01"' in after

    # The context travels in headers only: payloads hold none, and the chain still verifies.
    assert asyncio.run(_payloads_without_trace_and_chains_verify(nats_url, [events, forecasts]))


async def _goal_through_the_gateway(
    api: Any, nats_url: str, postgres_url: str, events: str, forecasts: str
) -> int:
    """Post the goal while the projections run and an SSE client listens; return the time the
    goal was posted (ns) once its forecast came out of the gateway."""
    logs: dict[str, EventLog] = {
        "events": await asyncio.to_thread(
            StoreEventLog, "events", {**_env(nats_url), "NATS_STREAM": events}
        ),
        "forecasts": await asyncio.to_thread(
            StoreEventLog, "forecasts", {**_env(nats_url), "NATS_STREAM": forecasts}
        ),
    }
    runner = ProjectionRunner(
        postgres_projections(postgres_url, ["fixtures", "forecasts"]), logs, page_size=100
    )
    settings = HubSettings(heartbeat_seconds=1.0)
    metrics = StreamMetrics(get_meter("sportcast.gateway"))
    with instrument_projector(runner):
        async with (
            runner,
            serve_streams(nats_url, events, forecasts, settings, metrics=metrics) as (base, _hub),
        ):
            assert await runner.caught_up(30)
            async with (
                httpx.AsyncClient(base_url=base, timeout=30) as client,
                client.stream("GET", "/v1/streams/all") as response,
            ):
                assert response.status_code == 200
                posted = time.time_ns()
                goal = {
                    "type": "goal",
                    "event_id": "g1",
                    "fixture": FIXTURE_KEY,
                    "side": "home",
                    "minute": 12,
                }
                answer = await asyncio.to_thread(
                    api.http.post, "/feeds/match-events", json=goal, headers=A
                )
                assert answer.status_code == 202
                seen = set()
                async with asyncio.timeout(30):
                    async for frame in read_frames(response):
                        seen.add(frame.event)
                        if "goal-scored" in seen and "forecast" in seen:
                            break
            # The projections applied the goal and its forecast (their spans end with the page).
            heads = {name: await log.head() for name, log in logs.items()}
            assert await runner.wait_for(heads, 30)
            # A running projector's lag is on /metrics (a stopped one is no longer observed).
            scrape = await asyncio.to_thread(_scrape)
            assert any(x.startswith("sportcast_projection_lag_events") for x in scrape.splitlines())
    for log in logs.values():
        await asyncio.to_thread(log.close)  # type: ignore[attr-defined]
    return posted


def _env(nats_url: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}


async def _payloads_without_trace_and_chains_verify(nats_url: str, streams: list[str]) -> bool:
    nc = await connect_nats(nats_url, reconnect=False)
    try:
        traced = 0
        for stream in streams:
            reader = DirectReader(nc, stream)
            await reader.start()
            records = await reader.batch(
                subject=SubjectLayout(stream).all_subjects, start_seq=1, limit=10_000
            )
            for r in records:
                assert b"traceparent" not in r.data
                traced += "traceparent" in r.headers
            verifier = StreamVerifier(SubjectLayout(stream))
            verifier.add(records)
            assert verifier.events == len(
                [r for r in records if r.subject.startswith(SubjectLayout(stream).events[:-1])]
            )
            assert not verifier.problems, verifier.problems
        assert traced >= 2  # the goal and its forecast at least
        return True
    finally:
        await nc.close()


def _scrape() -> str:
    return generate_latest(REGISTRY).decode()


def _value(text: str, name: str, labels: str) -> float:
    """The sum of ``name``'s samples whose labels contain ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
