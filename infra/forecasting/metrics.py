"""The forecaster's metrics through OpenTelemetry: forecast latency and lag in events.

The instruments are made once per process (an instrument's name may be registered only once per
meter: a second ``create_observable_gauge`` of the same name keeps the first one's callback), and
read every forecaster service running in the process; a stopped service is no longer observed.
With no meter provider configured they cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from infra.forecasting.service import ForecasterService
from infra.observed import Observed
from infra.telemetry import LATENCY_BUCKETS

log = logging.getLogger("sportcast.forecaster")
_SERVICES = Observed[ForecasterService](lambda s: not s.stopped)


def _lag_events(_: CallbackOptions) -> Iterable[Observation]:
    for service in _SERVICES:
        try:
            head = service.feeds.recorder.max_notification_id() or 0
        except Exception as exc:  # a scrape while the store is away reports nothing
            log.debug("forecaster lag not read: %r", exc)
            continue
        yield Observation(max(head - service.processed, 0))


_METER = get_meter("sportcast.forecaster")
_LATENCY = _METER.create_histogram(
    "sportcast.forecast.latency",
    unit="s",
    description="From a feed event written to the forecast it triggered stored",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
)
_METER.create_observable_gauge(
    "sportcast.forecaster.lag_events",
    [_lag_events],
    description="Feed events stored but not yet processed by the forecaster",
)


def instrument_forecaster(service: ForecasterService) -> None:
    """Observe ``service``: its forecast latencies and, while it runs, its lag."""
    service.latency.observers.append(_LATENCY.record)
    _SERVICES.add(service)
