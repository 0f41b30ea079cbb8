"""All telemetry set-up in one place: a tracer provider per service, exported over OTLP, and a
meter provider whose instruments the gateway serves at ``/metrics`` in Prometheus's text format
(OpenTelemetry's Prometheus exporter, which registers with prometheus-client's registry)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
LATENCY_BUCKETS += [10.0, 30.0, 60.0, 300.0]  # a backlog (a start, an outage) shows too
"""Histogram bounds in seconds for our latencies (the SDK's default bounds are for ms)."""

_configured = False
_metrics_configured = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider named ``service`` exporting over OTLP, only when an endpoint is
    set. Without one the API's no-op tracer stays: spans are not recorded and no trace context
    is written into stored messages (infra/eventstore/tracecontext.py)."""
    global _configured
    if _configured or not otlp_endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    install_tracing(service, OTLPSpanExporter(endpoint=otlp_endpoint))
    _configured = True


def install_tracing(service: str, exporter: SpanExporter) -> None:
    """The process's tracer provider: spans batched to ``exporter`` off the request path.
    Sampling is the SDK's, so the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG set it
    (default parent-based always-on: every feed message traced; e.g.
    ``parentbased_traceidratio`` with ``0.1`` keeps one trace in ten, and an unsampled trace
    writes no header and opens no span downstream). Cost: benchmarks/bench_tracing.py."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def configure_metrics(service: str) -> None:
    """Install the process's meter provider (once): every ``metrics.get_meter`` instrument, the
    SSE hub's included, is then read by Prometheus scrapes of ``/metrics``."""
    global _metrics_configured
    if _metrics_configured:
        return
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[PrometheusMetricReader()],
    )
    metrics.set_meter_provider(provider)
    _metrics_configured = True
