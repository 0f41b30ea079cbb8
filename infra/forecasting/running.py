"""The forecaster as a deployment runs it: each kind of model from its file when the settings
name one, else from the registry's champion of that kind, followed as champions change.

`sportcast serve forecaster` and `sportcast up` both start it from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from commands.model_registry import ModelRegistry
from domain.model_registry import FOOTBALL_1X2, FOOTBALL_INPLAY, NBA
from infra.forecasting.champion import ChampionWatch, Loaded, fetch_champion, use
from infra.forecasting.lifecycle import registry_env
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService, configured_service
from infra.intake import event_store_env
from infra.settings import Settings

log = logging.getLogger("sportcast.forecaster")


@dataclass
class RunningForecaster:
    service: ForecasterService
    watch: ChampionWatch | None
    """None when every kind is pinned to a file."""
    registry: ModelRegistry
    kinds_in_use: list[str]
    """The kinds with a model at start (a file or a champion)."""

    def start(self) -> None:
        self.service.start()
        if self.watch is not None:
            self.watch.start()

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        self.service.stop()
        self.registry.close()


def forecaster_for(
    settings: Settings, nats_url: str, *, watch_every: float = 10.0, only_with_a_model: bool = False
) -> RunningForecaster | None:
    """The forecaster the settings describe, not yet started. ``only_with_a_model``: None when no
    kind has a model file or a champion (nothing it could forecast with).

    Blocking (reads the registry and the object store). Raises OSError, ValueError or
    ArtifactError when a model file or a champion's artifact cannot be read."""
    feeds_env = event_store_env(settings, nats_url)
    registry = ModelRegistry(registry_env(feeds_env, settings.model_registry_stream))
    try:
        files = {
            FOOTBALL_1X2: settings.model_file,
            NBA: settings.nba_model_file,
            FOOTBALL_INPLAY: settings.inplay_model_file,
        }
        watched = [kind for kind, path in files.items() if path is None]
        champions: dict[str, Loaded] = {}
        for kind in watched:
            champion = fetch_champion(registry, nats_url, settings.model_bucket, kind)
            if champion is not None:
                champions[kind] = champion
        in_use = [k for k, path in files.items() if path is not None or k in champions]
        if only_with_a_model and not in_use:
            registry.close()
            return None
        # A football model file is archived by configured_service; champions already are.
        pinned = None
        if settings.model_file is not None:
            pinned = LoadedModel.from_bytes(settings.model_file.read_bytes())
        service = configured_service(settings, feeds_env, pinned)
    except BaseException:
        registry.close()
        raise
    for model in champions.values():
        use(service.forecaster, model)
    watch = None
    if watched:
        watch = ChampionWatch(
            service.forecaster,
            registry,
            nats_url=nats_url,
            bucket=settings.model_bucket,
            every=watch_every,
            kinds=watched,
        )
    log.info("forecaster models: %s", ", ".join(in_use) or "none yet")
    return RunningForecaster(service, watch, registry, in_use)
