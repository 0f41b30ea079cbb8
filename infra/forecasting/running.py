"""The forecaster as a deployment runs it: each kind of model from its file when the settings
name one, else from the registry's champion of that kind, followed as champions change.

The composition root builds it (infra/bootstrap.py, `running_forecaster`); `sportcast serve
forecaster` and `sportcast up` both start it from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from commands.model_registry import ModelRegistry
from infra.forecasting.champion import ChampionWatch
from infra.forecasting.service import ForecasterService

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
