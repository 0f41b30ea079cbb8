"""Keeps the forecaster on the registry's champions (one per kind: football 1X2, NBA, in-play
football), and retrains on a schedule.

The watcher polls the registry; when a new model is promoted it fetches the artifact (hash
verified) and hands it to the forecaster between two events (``Forecaster.promote``): no pause,
no event scored half by each model, and, for a football champion, the upcoming fixtures'
forecasts re-issued once. The trainer retrains every kind from the event store every interval
in its own thread, so forecasting never waits for it, and promotes only a model that is not
worse than its kind's champion.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from commands.forecasting.forecaster import (
    Forecaster,
    ForecastModel,
    InPlayForecastModel,
    NbaForecastModels,
)
from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRegistry
from domain.errors import DomainError
from domain.model_registry import (
    FOOTBALL_1X2,
    FOOTBALL_INPLAY,
    KINDS,
    NBA,
    Champion,
    champion_id,
)
from infra.connections import connect_nats
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.kinds import ModelKind
from infra.forecasting.lifecycle import KINDS as TRAINED_KINDS
from infra.forecasting.lifecycle import promote, train_and_register
from infra.forecasting.model_file import LoadedInPlayModel
from infra.forecasting.nba_model_file import LoadedNbaModels
from infra.forecasting.serving import Loaded, load_artifact

log = logging.getLogger("sportcast.models")
PAGE = 500
_PROMOTED = get_topic(Champion.ModelPromoted)
_KIND_OF_CHAMPION = {champion_id(kind): kind for kind in KINDS}


def fetch_champion(
    registry: ModelRegistry, nats_url: str, bucket: str, kind: str = FOOTBALL_1X2
) -> Loaded | None:
    """The champion of ``kind``, loaded (None: none promoted yet)."""
    champion = registry.champion(kind)
    if champion is None or champion.model_id is None or champion.artifact_hash is None:
        return None
    return fetch_model(kind, champion.model_id, champion.artifact_hash, nats_url, bucket)


def fetch_model(kind: str, model_id: str, artifact_hash: str, nats_url: str, bucket: str) -> Loaded:
    async def get() -> bytes:
        nc = await connect_nats(nats_url, name="sportcast-champion")
        try:
            return await ArtifactStore(nc.jetstream(), bucket=bucket).get(artifact_hash)
        finally:
            await nc.close()

    return load_artifact(kind, model_id, asyncio.run(get()))


def promotions(
    registry: ModelRegistry, *, after: int
) -> list[tuple[int, str, Champion.ModelPromoted]]:
    """Every ModelPromoted after notification ``after``: (position, kind, event), in order."""
    found: list[tuple[int, str, Champion.ModelPromoted]] = []
    start = after + 1
    while True:
        page = registry.recorder.select_notifications(
            start=start, limit=PAGE, topics=(_PROMOTED,), inclusive_of_start=True
        )
        if not page:
            return found
        for notification in page:
            event = registry.mapper.to_domain_event(notification)
            assert isinstance(event, Champion.ModelPromoted)
            found.append((notification.id, _KIND_OF_CHAMPION[event.originator_id], event))
        start = page[-1].id + 1


def _models(forecaster: Forecaster) -> dict[str, object]:
    return {
        FOOTBALL_1X2: forecaster.model,
        NBA: forecaster.nba_models,
        FOOTBALL_INPLAY: forecaster.inplay_model,
    }


def in_use(forecaster: Forecaster, kind: str) -> str | None:
    """The artifact hash of the forecaster's model of ``kind`` (None: it has none)."""
    model = _models(forecaster)[kind]
    return None if model is None else str(getattr(model, "artifact_hash", None))


def use(forecaster: Forecaster, model: Loaded) -> None:
    if isinstance(model, LoadedNbaModels):
        forecaster.use_nba_models(model)
    elif isinstance(model, LoadedInPlayModel):
        forecaster.use_inplay_model(model)
    else:
        forecaster.use_model(model)


class ChampionWatch(threading.Thread):
    """Keeps the forecaster on the champion of each kind in ``kinds``. Promotions not yet acted
    on (they may have happened while the forecaster was down) are acted on together: the
    forecaster switches to each kind's latest, and a new football champion re-issues the
    upcoming forecasts, exactly once: the last promotion's position is tracked with the re-issue
    (docs/adr/0009)."""

    def __init__(
        self,
        forecaster: Forecaster,
        registry: ModelRegistry,
        *,
        nats_url: str,
        bucket: str,
        every: float = 10.0,
        kinds: Collection[str] = KINDS,
    ) -> None:
        super().__init__(name="champion-watch", daemon=True)
        self.forecaster, self.registry = forecaster, registry
        self.nats_url, self.bucket, self.every = nats_url, bucket, every
        self.kinds = frozenset(kinds)
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
        """Act on new promotions, or switch to the champions; True when it did either."""
        tracked = self.forecaster.promotion_position(self.registry.name)
        new = promotions(self.registry, after=tracked)
        if not new:
            return self._switch_to_champions()
        latest: dict[str, Champion.ModelPromoted] = {}
        for _, kind, event in new:
            if kind in self.kinds:
                latest[kind] = event
        football: ForecastModel | None = None
        nba: NbaForecastModels | None = None
        inplay: InPlayForecastModel | None = None
        for kind, event in latest.items():
            model = self._model(kind, event.model_id, event.artifact_hash)
            if kind == FOOTBALL_1X2:
                football = cast(ForecastModel, model)
            elif kind == NBA:
                nba = cast(NbaForecastModels, model)
            else:
                inplay = cast(InPlayForecastModel, model)
        before = {kind: in_use(self.forecaster, kind) for kind in latest}
        reissued = self.forecaster.promote(
            football,
            Tracking(self.registry.name, new[-1][0]),
            nba_models=nba,
            inplay_model=inplay,
        )
        for kind, event in latest.items():
            log.info(
                "forecaster switched %s champion: %s (artifact %s) after artifact %s, "
                "promotion at registry position %s",
                kind,
                event.model_id,
                event.artifact_hash[:12],
                (before[kind] or "none")[:12],
                new[-1][0],
            )
        log.info("re-issued %s forecasts with the new champions", reissued)
        return True

    def _model(self, kind: str, model_id: str, artifact_hash: str) -> object:
        """The model in use when it is this artifact, else the artifact fetched and loaded."""
        if in_use(self.forecaster, kind) == artifact_hash:
            return _models(self.forecaster)[kind]
        return fetch_model(kind, model_id, artifact_hash, self.nats_url, self.bucket)

    def _switch_to_champions(self) -> bool:
        switched = False
        for kind in sorted(self.kinds):
            champion = self.registry.champion(kind)
            if champion is None or champion.artifact_hash is None or champion.model_id is None:
                continue
            if in_use(self.forecaster, kind) == champion.artifact_hash:
                continue
            model = fetch_model(
                kind, champion.model_id, champion.artifact_hash, self.nats_url, self.bucket
            )
            previous = in_use(self.forecaster, kind)
            use(self.forecaster, model)
            log.info(
                "forecaster switched %s champion: %s (artifact %s) after artifact %s",
                kind,
                champion.model_id,
                champion.artifact_hash[:12],
                (previous or "none")[:12],
            )
            switched = True
        return switched

    def stop(self) -> None:
        self._stop_event.set()


Outcome = Literal["promoted", "kept", "skipped", "failed"]
"""A training run: its model promoted; trained but kept out (not better than the champion);
skipped (the log holds too little for the kind); failed (an error, logged; the next round
tries again)."""


@dataclass
class KindRuns:
    """One kind's training runs since the trainer started (read by its metrics)."""

    runs: Counter[Outcome] = field(default_factory=Counter)
    last_duration: float | None = None
    """Seconds the last run took, whatever its outcome."""
    last_success: float | None = None
    """When (Unix time) a model of this kind was last trained and registered."""


class ScheduledTrainer(threading.Thread):
    """Retrain every ``every`` seconds beside live forecasting, each kind in ``kinds`` in turn
    (default: every kind); promote each model that is not worse than its kind's champion."""

    def __init__(
        self,
        feeds: FeedIngestion,
        registry: ModelRegistry,
        *,
        nats_url: str,
        bucket: str,
        every: float,
        kinds: Sequence[ModelKind] | None = None,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="scheduled-trainer", daemon=True)
        self.feeds, self.registry = feeds, registry
        self.nats_url, self.bucket, self.every = nats_url, bucket, every
        self.kinds = list(TRAINED_KINDS.values()) if kinds is None else list(kinds)
        self.on_result = on_result
        self.runs = {kind.name: KindRuns() for kind in self.kinds}
        self._stop_event = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        while True:
            for kind in self.kinds:
                if self._stop_event.is_set():
                    return
                self.train_once(kind)
            if self._stop_event.wait(self.every):
                return

    def train_once(self, kind: ModelKind | None = None) -> str:
        """Train, register and try to promote one model of ``kind`` (default football 1X2);
        returns what happened, in a line."""
        chosen = kind or TRAINED_KINDS[FOOTBALL_1X2]

        async def work() -> tuple[Outcome, str]:
            nc = await connect_nats(self.nats_url, name="sportcast-trainer")
            try:
                artifacts = ArtifactStore(nc.jetstream(), bucket=self.bucket)
                trained = await train_and_register(
                    self.feeds, self.registry, artifacts, kind=chosen
                )
                try:
                    await promote(self.feeds, self.registry, artifacts, trained.model_id)
                except DomainError as refused:
                    said = f"trained {trained.model_id}, not promoted [{refused.code}]: {refused}"
                    return "kept", said
                return "promoted", f"trained and promoted {trained.model_id}"
            finally:
                await nc.close()

        started = time.monotonic()
        result: Outcome
        try:
            result, outcome = asyncio.run(work())
        except (DomainError, ValueError) as exc:
            result, outcome = "skipped", f"{chosen.name} retraining skipped: {exc}"
        except Exception as exc:  # the thread lives on: the next round tries again
            log.exception("%s retraining failed", chosen.name)
            result, outcome = "failed", f"{chosen.name} retraining failed: {exc!r}"
        runs = self.runs.setdefault(chosen.name, KindRuns())
        runs.runs[result] += 1
        runs.last_duration = time.monotonic() - started
        if result in ("promoted", "kept"):
            runs.last_success = time.time()
        log.info(outcome)
        if self.on_result:
            self.on_result(outcome)
        return outcome

    def stop(self) -> None:
        self._stop_event.set()
