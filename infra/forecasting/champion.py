"""Keeps the forecaster on the registry's champion, and retrains on a schedule.

The watcher polls the registry; when a new model is promoted it fetches the artifact (hash
verified) and hands it to the forecaster between two events (``Forecaster.promote``): no pause,
no event scored half by each model, and the upcoming fixtures' forecasts re-issued once. The
trainer retrains from the event store every interval in its own thread, so forecasting never
waits for it, and promotes only a model that is not worse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from commands.forecasting.forecaster import Forecaster, ForecastModel
from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRegistry
from domain.errors import DomainError
from domain.model_registry import Champion
from infra.connections import connect_nats
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.lifecycle import promote, train_and_register
from infra.forecasting.model_file import LoadedModel

log = logging.getLogger("sportcast.models")
PAGE = 500
_PROMOTED = get_topic(Champion.ModelPromoted)


def fetch_champion(registry: ModelRegistry, nats_url: str, bucket: str) -> LoadedModel | None:
    champion = registry.champion()
    if champion is None or champion.model_id is None or champion.artifact_hash is None:
        return None
    return fetch_model(champion.model_id, champion.artifact_hash, nats_url, bucket)


def fetch_model(model_id: str, artifact_hash: str, nats_url: str, bucket: str) -> LoadedModel:
    async def get() -> bytes:
        nc = await connect_nats(nats_url, name="sportcast-champion")
        try:
            return await ArtifactStore(nc.jetstream(), bucket=bucket).get(artifact_hash)
        finally:
            await nc.close()

    return LoadedModel.from_bytes(asyncio.run(get()), model_id=model_id)


def latest_promotion(
    registry: ModelRegistry, *, after: int
) -> tuple[int, Champion.ModelPromoted] | None:
    """The registry's last ModelPromoted after notification ``after``, with its position."""
    last = None
    start = after + 1
    while True:
        page = registry.recorder.select_notifications(
            start=start, limit=PAGE, topics=(_PROMOTED,), inclusive_of_start=True
        )
        if not page:
            break
        last, start = page[-1], page[-1].id + 1
    if last is None:
        return None
    event = registry.mapper.to_domain_event(last)
    assert isinstance(event, Champion.ModelPromoted)
    return last.id, event


class ChampionWatch(threading.Thread):
    """Keeps the forecaster on the champion. A promotion not yet acted on (it may have happened
    while the forecaster was down) makes it re-issue its upcoming forecasts with the new model,
    exactly once: the promotion's position is tracked with the re-issue (docs/adr/0009)."""

    def __init__(
        self,
        forecaster: Forecaster,
        registry: ModelRegistry,
        *,
        nats_url: str,
        bucket: str,
        every: float = 10.0,
    ) -> None:
        super().__init__(name="champion-watch", daemon=True)
        self.forecaster, self.registry = forecaster, registry
        self.nats_url, self.bucket, self.every = nats_url, bucket, every
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # a registry or object store hiccup: try again next time
                log.exception("checking for a new champion failed")
            if self._stop_event.wait(self.every):
                return

    def check(self) -> bool:
        """Act on a new promotion, or switch to the champion; True when it did either."""
        current = self.forecaster.model
        tracked = self.forecaster.promotion_position(self.registry.name)
        promoted = latest_promotion(self.registry, after=tracked)
        if promoted is None:
            champion = self.registry.champion()
            if champion is None or champion.model_id is None:
                return False
            if current is not None and current.model_id == champion.model_id:
                return False
            model = fetch_champion(self.registry, self.nats_url, self.bucket)
            if model is None:
                return False
            self.forecaster.use_model(model)
            log.info("forecaster switched to champion %s", model.model_id)
            return True
        position, event = promoted
        if current is not None and current.model_id == event.model_id:
            chosen: ForecastModel = current
        else:
            chosen = fetch_model(event.model_id, event.artifact_hash, self.nats_url, self.bucket)
        reissued = self.forecaster.promote(chosen, Tracking(self.registry.name, position))
        log.info(
            "forecaster switched to champion %s; re-issued %s upcoming forecasts",
            event.model_id,
            reissued,
        )
        return True

    def stop(self) -> None:
        self._stop_event.set()


class ScheduledTrainer(threading.Thread):
    """Retrain every ``every`` seconds beside live forecasting; promote when not worse."""

    def __init__(
        self,
        feeds: FeedIngestion,
        registry: ModelRegistry,
        *,
        nats_url: str,
        bucket: str,
        every: float,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="scheduled-trainer", daemon=True)
        self.feeds, self.registry = feeds, registry
        self.nats_url, self.bucket, self.every = nats_url, bucket, every
        self.on_result = on_result
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            self.train_once()
            if self._stop_event.wait(self.every):
                return

    def train_once(self) -> str:
        async def work() -> str:
            nc = await connect_nats(self.nats_url, name="sportcast-trainer")
            try:
                artifacts = ArtifactStore(nc.jetstream(), bucket=self.bucket)
                trained = await train_and_register(self.feeds, self.registry, artifacts)
                try:
                    await promote(self.feeds, self.registry, artifacts, trained.model_id)
                except DomainError as refused:
                    return f"trained {trained.model_id}, not promoted [{refused.code}]: {refused}"
                return f"trained and promoted {trained.model_id}"
            finally:
                await nc.close()

        try:
            outcome = asyncio.run(work())
        except (DomainError, ValueError) as exc:
            outcome = f"retraining skipped: {exc}"
        log.info(outcome)
        if self.on_result:
            self.on_result(outcome)
        return outcome

    def stop(self) -> None:
        self._stop_event.set()
