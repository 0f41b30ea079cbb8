"""The analytics projection as a service: its logs, its DuckDB file, its sink, its engine."""

from __future__ import annotations

import logging
from pathlib import Path

from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from infra.analytics.kafka_sink import KafkaRowSink, producer_options
from infra.analytics.runner import AnalyticsRunner, AnalyticsStatus
from infra.forecasting.service import forecaster_env
from infra.settings import Settings
from readmodels.analytics.engines import AnalyticsEngine, DuckDBEngine, PinotEngine
from readmodels.analytics.store import AnalyticsStore

log = logging.getLogger("sportcast.analytics")


def analytics_path(settings: Settings) -> Path:
    return settings.analytics_db or settings.state_dir / "analytics.duckdb"


class AnalyticsService:
    """Owns what the runner reads and writes; ``close`` releases all of it."""

    def __init__(
        self, settings: Settings, feeds_env: dict[str, str], *, path: Path | None = None
    ) -> None:
        """``feeds_env``: the feed's event store, from the composition root."""
        self.store = AnalyticsStore(path or analytics_path(settings))
        self.feeds = FeedIngestion(feeds_env)
        # Only read: its mapper decodes the forecast stream (no model is loaded).
        self.forecasts = Forecaster(forecaster_env(feeds_env, settings.forecaster_stream))
        self.sink = None
        if settings.kafka_bootstrap:
            self.sink = KafkaRowSink(
                producer_options(
                    settings.kafka_bootstrap,
                    security_protocol=settings.kafka_security_protocol,
                    sasl_mechanism=settings.kafka_sasl_mechanism,
                    username=settings.kafka_username,
                    password=(
                        settings.kafka_password.get_secret_value()
                        if settings.kafka_password
                        else None
                    ),
                )
            )
        self.runner = AnalyticsRunner(
            self.feeds,
            self.forecasts,
            self.store,
            sink=self.sink,
            page=settings.analytics_page_events,
        )

    def start(self) -> None:
        self.runner.start()

    def status(self) -> AnalyticsStatus:
        return self.runner.status()

    def close(self) -> None:
        self.runner.stop()
        if self.sink is not None:
            self.sink.close()
        self.forecasts.close()
        self.feeds.close()
        self.store.close()


def dashboard_engine(settings: Settings, store: AnalyticsStore | None) -> AnalyticsEngine:
    """Pinot when a broker is configured (compose), else the embedded DuckDB store."""
    if settings.pinot_broker_url:
        return PinotEngine(settings.pinot_broker_url)
    if store is None:
        raise ValueError("no Pinot broker configured and no embedded analytics store open")
    return DuckDBEngine(store.reader, threads=settings.analytics_query_threads)
