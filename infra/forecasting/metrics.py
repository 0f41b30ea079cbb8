"""The forecaster's metrics through OpenTelemetry: forecast latency and lag in events.

Made once per process by the composition root (a meter provider is global); with none
configured they cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from infra.forecasting.service import ForecasterService
from infra.telemetry import LATENCY_BUCKETS

log = logging.getLogger("sportcast.forecaster")


def instrument_forecaster(service: ForecasterService) -> None:
    meter = get_meter("sportcast.forecaster")
    latency = meter.create_histogram(
        "sportcast.forecast.latency",
        unit="s",
        description="From a feed event written to the forecast it triggered stored",
        explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
    )
    service.latency.observers.append(latency.record)

    def lag_events(_: CallbackOptions) -> Iterable[Observation]:
        if service.stopped:
            return []
        try:
            head = service.feeds.recorder.max_notification_id() or 0
        except Exception as exc:  # a scrape while the store is away reports nothing
            log.debug("forecaster lag not read: %r", exc)
            return []
        return [Observation(max(head - service.processed, 0))]

    meter.create_observable_gauge(
        "sportcast.forecaster.lag_events",
        [lag_events],
        description="Feed events stored but not yet processed by the forecaster",
    )
