"""The model registry application: which models were trained from what, and which one is champion.

Its events go to their own stream (``MODELREGISTRY_NATS_STREAM``: eventsourcing prefixes env keys
with the upper-cased application name). Artifacts themselves live in an object store, addressed
by their sha256; the registry only records the hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol

from domain.model_registry import (
    FOOTBALL_1X2,
    Champion,
    ModelNotFound,
    TrainedModel,
    check_kind,
    model_id_for,
    trained_model_id,
)

PAGE = 500


@dataclass(frozen=True)
class ModelRecord:
    """What a training run produced, ready to be registered."""

    artifact_hash: str
    cutoff_position: int
    first_kickoff: datetime
    last_kickoff: datetime
    seasons: list[str]
    holdout_season: str
    holdout_fingerprint: str
    hyperparameters: dict[str, Any]
    library_versions: dict[str, str]
    holdout_metrics: dict[str, float]
    training_seconds: float
    kind: str = FOOTBALL_1X2
    scored_artifact_hash: str | None = None
    """The artifact the holdout scored (None: `artifact_hash`, no refit)."""
    refit: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return model_id_for(self.artifact_hash, self.kind)

    def trained_model(self) -> TrainedModel:
        """The registry's aggregate for this record (its `ModelTrained`, not yet saved)."""
        return TrainedModel(
            kind=check_kind(self.kind),
            model_id=self.model_id,
            artifact_hash=self.artifact_hash,
            scored_artifact_hash=self.scored_artifact_hash or self.artifact_hash,
            refit=self.refit,
            cutoff_position=self.cutoff_position,
            first_kickoff=self.first_kickoff,
            last_kickoff=self.last_kickoff,
            seasons=self.seasons,
            holdout_season=self.holdout_season,
            holdout_fingerprint=self.holdout_fingerprint,
            hyperparameters=self.hyperparameters,
            library_versions=self.library_versions,
            holdout_metrics=self.holdout_metrics,
            training_seconds=self.training_seconds,
        )


class ModelRegistry(Application[Any]):
    def register(self, record: ModelRecord) -> TrainedModel:
        """Record `ModelTrained`; an artifact registered before is returned as it was."""
        try:
            return self.model(record.model_id)
        except ModelNotFound:
            pass
        model = record.trained_model()
        self.save(model)
        return model

    def model(self, model_id: str) -> TrainedModel:
        try:
            found: object = self.repository.get(trained_model_id(model_id))
        except AggregateNotFoundError:
            raise ModelNotFound(f"no model {model_id!r} in the registry") from None
        assert isinstance(found, TrainedModel)
        return found

    def champion(self, kind: str = FOOTBALL_1X2) -> Champion | None:
        """The champion of ``kind`` (None: none promoted yet)."""
        try:
            found: object = self.repository.get(Champion.create_id(check_kind(kind)))
        except AggregateNotFoundError:
            return None
        assert isinstance(found, Champion)
        return found if found.model_id is not None else None

    def promote(self, model_id: str, *, champion_score: float | None = None) -> Champion:
        """Record `ModelPromoted` on the champion of the model's kind; raises ChallengerWorse if
        `model_id` is worse on the holdout (``champion_score``: see `Champion.promote`)."""
        candidate = self.model(model_id)
        try:
            champion: object = self.repository.get(Champion.create_id(candidate.kind))
        except AggregateNotFoundError:
            champion = Champion(candidate.kind)
        assert isinstance(champion, Champion)
        champion.promote(candidate, champion_score=champion_score)
        self.save(champion)
        return champion

    def history(self) -> Iterator[DomainEventProtocol[Any]]:
        """Every registry event in the order recorded (the registry is small)."""
        start = 1
        while True:
            page = self.recorder.select_notifications(
                start=start, limit=PAGE, inclusive_of_start=True
            )
            if not page:
                return
            for notification in page:
                yield self.mapper.to_domain_event(notification)
            start = page[-1].id + 1
