"""The model registry's domain: trained models and the champion that forecasts.

A `TrainedModel` is created once per artifact (its id derives from the artifact's sha256, so
the same artifact registered twice is one model). The `Champion` is a single aggregate whose
`ModelPromoted` events are the promotion history; it refuses a challenger whose holdout RPS is
worse than the champion's on the same holdout matches (the holdout fingerprint says which).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

# Fixed forever: changing either changes every registry stream's id.
MODELS_NAMESPACE = UUID("6a1f0c9e-2b7d-5c43-8e15-3d9b4a7c2e61")
CHAMPION_ID = uuid5(MODELS_NAMESPACE, "champion/football-1x2")


def model_id_for(artifact_hash: str) -> str:
    return f"football-1x2-{artifact_hash[:12]}"


def trained_model_id(model_id: str) -> UUID:
    return uuid5(MODELS_NAMESPACE, model_id)


class ModelNotFound(DomainError):
    code = "model-not-found"


class ChallengerWorse(DomainError):
    """The champion/challenger rule: a worse holdout RPS never replaces the champion."""

    code = "challenger-worse"


class AlreadyChampion(DomainError):
    code = "already-champion"


class HoldoutsNotComparable(DomainError):
    code = "holdouts-not-comparable"


class TrainedModel(Aggregate):
    class ModelTrained(Aggregate.Created):
        model_id: str
        artifact_hash: str
        cutoff_position: int
        first_kickoff: datetime
        last_kickoff: datetime
        seasons: list[str]
        holdout_season: str
        holdout_fingerprint: str
        """sha256 over the holdout's fixture ids and outcomes: equal means the same matches."""
        hyperparameters: dict[str, Any]
        library_versions: dict[str, str]
        holdout_metrics: dict[str, float]
        """rps, log_loss, ece (and the opening market's rps) on the holdout season."""
        training_seconds: float

    @staticmethod
    def create_id(model_id: str) -> UUID:
        return trained_model_id(model_id)

    @event(ModelTrained)
    def __init__(
        self,
        *,
        model_id: str,
        artifact_hash: str,
        cutoff_position: int,
        first_kickoff: datetime,
        last_kickoff: datetime,
        seasons: list[str],
        holdout_season: str,
        holdout_fingerprint: str,
        hyperparameters: dict[str, Any],
        library_versions: dict[str, str],
        holdout_metrics: dict[str, float],
        training_seconds: float,
    ) -> None:
        self.model_id = model_id
        self.artifact_hash = artifact_hash
        self.cutoff_position = cutoff_position
        self.first_kickoff = first_kickoff
        self.last_kickoff = last_kickoff
        self.seasons = list(seasons)
        self.holdout_season = holdout_season
        self.holdout_fingerprint = holdout_fingerprint
        self.hyperparameters = dict(hyperparameters)
        self.library_versions = dict(library_versions)
        self.holdout_metrics = dict(holdout_metrics)
        self.training_seconds = training_seconds

    @property
    def holdout_rps(self) -> float:
        return float(self.holdout_metrics["rps"])


class Champion(Aggregate):
    class Crowned(Aggregate.Created):
        pass

    class ModelPromoted(Aggregate.Event):
        model_id: str
        artifact_hash: str
        holdout_fingerprint: str
        holdout_rps: float
        previous_model_id: str | None
        previous_rps: float | None
        """The previous champion's RPS on the same holdout matches (None: no champion yet)."""

    @staticmethod
    def create_id() -> UUID:
        return CHAMPION_ID

    @event(Crowned)
    def __init__(self) -> None:
        self.model_id: str | None = None
        self.artifact_hash: str | None = None
        self.holdout_fingerprint: str | None = None
        self.holdout_rps: float | None = None

    def promote(self, candidate: TrainedModel, *, champion_rps: float | None = None) -> None:
        """Make `candidate` the champion unless it is worse on the holdout.

        ``champion_rps``: the champion re-scored on the candidate's holdout, for when the two
        were measured on different matches; without it such a comparison is refused.
        """
        if self.model_id == candidate.model_id:
            raise AlreadyChampion(f"{candidate.model_id} is already the champion")
        previous: float | None = None
        if self.model_id is not None:
            if self.holdout_fingerprint == candidate.holdout_fingerprint:
                previous = self.holdout_rps
            elif champion_rps is not None:
                previous = champion_rps
            else:
                raise HoldoutsNotComparable(
                    f"champion {self.model_id} was scored on other holdout matches than "
                    f"{candidate.model_id}; re-score the champion on the candidate's holdout"
                )
            assert previous is not None
            if candidate.holdout_rps > previous:
                raise ChallengerWorse(
                    f"{candidate.model_id} has holdout RPS {candidate.holdout_rps:.5f}, worse "
                    f"than champion {self.model_id} at {previous:.5f} on the same matches"
                )
        self._promoted(
            model_id=candidate.model_id,
            artifact_hash=candidate.artifact_hash,
            holdout_fingerprint=candidate.holdout_fingerprint,
            holdout_rps=candidate.holdout_rps,
            previous_model_id=self.model_id,
            previous_rps=previous,
        )

    @event(ModelPromoted)
    def _promoted(
        self,
        *,
        model_id: str,
        artifact_hash: str,
        holdout_fingerprint: str,
        holdout_rps: float,
        previous_model_id: str | None,
        previous_rps: float | None,
    ) -> None:
        self.model_id = model_id
        self.artifact_hash = artifact_hash
        self.holdout_fingerprint = holdout_fingerprint
        self.holdout_rps = holdout_rps
