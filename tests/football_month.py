"""A month of real football in a fresh event store, with forecasts from a small real model."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.provenance import Provenance
from infra.feeds.replay import Replay
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService
from tests.small_models import small_football_model

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[2] / "shared" / "data"))


def small_model() -> bytes:
    return small_football_model()


def store_football(env: dict[str, str], since: date, until: date) -> None:
    """Replay football in [since, until] into the feed stream, in event order."""
    app = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    try:
        for message in Replay(DATA, since=since, until=until).messages("football"):
            with contextlib.suppress(DomainError):  # impossible prices are refused, as live
                app.handle(message.build(message.key, received))
    finally:
        app.close()


def feed_head(env: dict[str, str]) -> int:
    app = FeedIngestion(env)
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


@dataclass
class Forecasting:
    """The forecaster following the feed in this process, writing to ``stream``."""

    env: dict[str, str]
    stream: str
    model: bytes

    def __post_init__(self) -> None:
        self.service = ForecasterService(
            self.env, self.stream, LoadedModel.from_bytes(self.model), group_events=50
        )

    def start(self) -> None:
        self.service.start()

    def catch_up(self, within: float = 120.0) -> None:
        head = feed_head(self.env)
        deadline = time.monotonic() + within
        while self.service.position < head:
            assert self.service.failure is None, self.service.failure
            assert time.monotonic() < deadline, "the forecaster did not catch up"
            time.sleep(0.05)

    def stop(self) -> None:
        self.service.stop()


def week_with_forecasts(nats_url: str) -> dict[str, str]:
    """A week of real football (March 2016) in a fresh stream, as the ingestion stores it, and
    the forecasts of a small real model over it in the stream named ``FORECASTS``."""
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": f"T{uuid.uuid4().hex[:12].upper()}",
    }
    store_football(env, date(2016, 3, 1), date(2016, 3, 7))
    forecasting = Forecasting(env, env["NATS_STREAM"] + "_F", small_model())
    forecasting.start()
    forecasting.catch_up()
    forecasting.stop()
    return {**env, "FORECASTS": env["NATS_STREAM"] + "_F"}
