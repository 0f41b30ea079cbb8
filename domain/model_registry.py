"""The model registry's domain: trained models and the champion that forecasts, per kind.

A `TrainedModel` is created once per artifact (its id derives from its kind and the artifact's
sha256, so the same artifact registered twice is one model). Each kind of model (football 1X2,
NBA, in-play football) has one `Champion` aggregate whose `ModelPromoted` events are its
promotion history; it refuses a challenger whose holdout score (the kind's metric, lower is
better) is worse than the champion's on the same holdout (the holdout fingerprint says which).

Events written before kinds existed are football 1X2 (upcast from class version 1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

# Fixed forever: changing either changes every registry stream's id.
MODELS_NAMESPACE = UUID("6a1f0c9e-2b7d-5c43-8e15-3d9b4a7c2e61")
FOOTBALL_1X2 = "football-1x2"
NBA = "nba"
"""The NBA file: the pre-game model and the in-play quarter fits together."""
FOOTBALL_INPLAY = "football-inplay"
PROMOTION_METRIC = {FOOTBALL_1X2: "rps", NBA: "log_loss", FOOTBALL_INPLAY: "log_loss"}
"""The holdout metric a challenger is compared on, per kind (lower is better)."""
KINDS = tuple(PROMOTION_METRIC)


def champion_id(kind: str) -> UUID:
    return uuid5(MODELS_NAMESPACE, f"champion/{kind}")


CHAMPION_ID = champion_id(FOOTBALL_1X2)


def model_id_for(artifact_hash: str, kind: str = FOOTBALL_1X2) -> str:
    return f"{kind}-{artifact_hash[:12]}"


def check_kind(kind: str) -> str:
    if kind not in PROMOTION_METRIC:
        raise UnknownModelKind(f"no model kind {kind!r}; the kinds are {', '.join(KINDS)}")
    return kind


def trained_model_id(model_id: str) -> UUID:
    return uuid5(MODELS_NAMESPACE, model_id)


class ModelNotFound(DomainError):
    code = "model-not-found"


class ChallengerWorse(DomainError):
    """The champion/challenger rule: a worse holdout score never replaces the champion."""

    code = "challenger-worse"


class UnknownModelKind(DomainError):
    code = "unknown-model-kind"


class ModelKindMismatch(DomainError):
    code = "model-kind-mismatch"


class AlreadyChampion(DomainError):
    code = "already-champion"


class HoldoutsNotComparable(DomainError):
    code = "holdouts-not-comparable"


class TrainedModel(Aggregate):
    class ModelTrained(Aggregate.Created):
        class_version = 3
        kind: str
        model_id: str
        artifact_hash: str
        """The deployed artifact: the chosen recipe refitted on everything up to the cut-off
        (`refit` says how), or the scored artifact itself when there was no refit."""
        scored_artifact_hash: str
        """The artifact the holdout metrics were measured on (it never saw the holdout)."""
        refit: dict[str, Any]
        """How the deployed artifact was refitted ({} when it is the scored one)."""
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
        """The kind's promotion metric and others on the holdout (football: rps, log_loss, ece
        and the opening market's rps)."""
        training_seconds: float

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kind"] = FOOTBALL_1X2

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            # Before refits, the registered artifact was the one scored.
            state["scored_artifact_hash"] = state["artifact_hash"]
            state["refit"] = {}

    @staticmethod
    def create_id(kind: str, model_id: str) -> UUID:
        return trained_model_id(model_id)

    @event(ModelTrained)
    def __init__(
        self,
        *,
        kind: str,
        model_id: str,
        artifact_hash: str,
        scored_artifact_hash: str,
        refit: dict[str, Any],
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
        self.kind = kind
        self.model_id = model_id
        self.artifact_hash = artifact_hash
        self.scored_artifact_hash = scored_artifact_hash
        self.refit = dict(refit)
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
    def metric(self) -> str:
        return PROMOTION_METRIC[self.kind]

    @property
    def holdout_score(self) -> float:
        """The kind's promotion metric on the holdout (lower is better)."""
        return float(self.holdout_metrics[self.metric])


class Champion(Aggregate):
    class Crowned(Aggregate.Created):
        class_version = 2
        kind: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kind"] = FOOTBALL_1X2

    class ModelPromoted(Aggregate.Event):
        class_version = 2
        model_id: str
        artifact_hash: str
        holdout_fingerprint: str
        metric: str
        holdout_score: float
        previous_model_id: str | None
        previous_score: float | None
        """The previous champion's score on the same holdout (None: no champion yet)."""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["metric"] = "rps"
            state["holdout_score"] = state.pop("holdout_rps")
            state["previous_score"] = state.pop("previous_rps")

    @staticmethod
    def create_id(kind: str = FOOTBALL_1X2) -> UUID:
        return champion_id(kind)

    @event(Crowned)
    def __init__(self, kind: str = FOOTBALL_1X2) -> None:
        self.kind = kind
        self.model_id: str | None = None
        self.artifact_hash: str | None = None
        self.holdout_fingerprint: str | None = None
        self.metric = PROMOTION_METRIC[kind]
        self.holdout_score: float | None = None

    def promote(self, candidate: TrainedModel, *, champion_score: float | None = None) -> None:
        """Make `candidate` the champion unless it is worse on the holdout.

        ``champion_score``: the champion re-scored on the candidate's holdout, for when the two
        were measured on different data; without it such a comparison is refused.
        """
        if candidate.kind != self.kind:
            raise ModelKindMismatch(
                f"{candidate.model_id} is a {candidate.kind} model; this is the {self.kind} "
                "champion"
            )
        if self.model_id == candidate.model_id:
            raise AlreadyChampion(f"{candidate.model_id} is already the champion")
        previous: float | None = None
        if self.model_id is not None:
            if self.holdout_fingerprint == candidate.holdout_fingerprint:
                previous = self.holdout_score
            elif champion_score is not None:
                previous = champion_score
            else:
                raise HoldoutsNotComparable(
                    f"champion {self.model_id} was scored on another holdout than "
                    f"{candidate.model_id}; re-score the champion on the candidate's holdout"
                )
            assert previous is not None
            if candidate.holdout_score > previous:
                raise ChallengerWorse(
                    f"{candidate.model_id} has holdout {self.metric} "
                    f"{candidate.holdout_score:.5f}, worse than champion {self.model_id} at "
                    f"{previous:.5f} on the same holdout"
                )
        self._promoted(
            model_id=candidate.model_id,
            artifact_hash=candidate.artifact_hash,
            holdout_fingerprint=candidate.holdout_fingerprint,
            metric=self.metric,
            holdout_score=candidate.holdout_score,
            previous_model_id=self.model_id,
            previous_score=previous,
        )

    @event(ModelPromoted)
    def _promoted(
        self,
        *,
        model_id: str,
        artifact_hash: str,
        holdout_fingerprint: str,
        metric: str,
        holdout_score: float,
        previous_model_id: str | None,
        previous_score: float | None,
    ) -> None:
        self.model_id = model_id
        self.artifact_hash = artifact_hash
        self.holdout_fingerprint = holdout_fingerprint
        self.holdout_score = holdout_score
