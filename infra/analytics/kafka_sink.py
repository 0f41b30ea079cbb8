"""The ``analytics-sink`` service's producer: analytics rows to Kafka with aiokafka.

Idempotent, ``acks=all``, keyed by primary key with Kafka's default (murmur2) partitioner,
which the Java clients share. ``publish`` returns once the broker has acknowledged every record
of the batch; only then does the runner commit the batch's positions (runner.py), so a crash
can re-send a batch but never lose one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from readmodels.analytics.batch import AnalyticsBatch
from readmodels.analytics.kafka_records import records_of

T = TypeVar("T")


class AnalyticsSinkUnavailable(Exception):
    code = "analytics-sink-unavailable"


def producer_options(
    bootstrap: str,
    *,
    security_protocol: str = "PLAINTEXT",
    sasl_mechanism: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """What the producer is made with (a function of its own so the choice can be tested)."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "sportcast-analytics-sink",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
        "security_protocol": security_protocol,
    }
    if sasl_mechanism is not None:
        options |= {
            "sasl_mechanism": sasl_mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    return options


class KafkaRowSink:
    """A producer on an event loop of its own thread; ``publish`` is called from the runner's."""

    def __init__(self, options: dict[str, Any], *, start_timeout: float = 30.0) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._producer: AIOKafkaProducer | None = None
        try:
            self._call(self._start(), timeout=start_timeout)
        except BaseException:
            self._stop_loop()
            raise

    async def _start(self) -> None:
        producer = AIOKafkaProducer(**self._options)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise AnalyticsSinkUnavailable(
                f"cannot reach Kafka at {self._options['bootstrap_servers']}: {exc}"
            ) from exc
        self._producer = producer

    def publish(self, batch: AnalyticsBatch) -> None:
        self._call(self._publish(batch), timeout=120)

    async def _publish(self, batch: AnalyticsBatch) -> None:
        assert self._producer is not None
        try:
            sent = [
                await self._producer.send(r.topic, r.value, key=r.key) for r in records_of(batch)
            ]
            await asyncio.gather(*sent)
        except KafkaError as exc:
            raise AnalyticsSinkUnavailable(f"Kafka did not take the batch: {exc}") from exc

    def close(self) -> None:
        if self._producer is not None:
            self._call(self._producer.stop(), timeout=30)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)
