"""Champion/challenger: a worse model is never promoted; a not-worse one is."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from commands.model_registry import ModelRecord, ModelRegistry
from domain.model_registry import (
    FOOTBALL_1X2,
    FOOTBALL_INPLAY,
    NBA,
    AlreadyChampion,
    ChallengerWorse,
    HoldoutsNotComparable,
    ModelNotFound,
    TrainedModel,
    UnknownModelKind,
)


def record(hash_char: str, rps: float, *, holdout: str = "fp-2022") -> ModelRecord:
    return ModelRecord(
        artifact_hash=hash_char * 64,
        cutoff_position=1000,
        first_kickoff=datetime(2016, 8, 1, tzinfo=UTC),
        last_kickoff=datetime(2023, 5, 28, tzinfo=UTC),
        seasons=["2016-2017", "2022-2023"],
        holdout_season="2022-2023",
        holdout_fingerprint=holdout,
        hyperparameters={"depth": 4},
        library_versions={"catboost": "1.2"},
        holdout_metrics={"rps": rps, "log_loss": 0.98, "ece": 0.01, "opening_rps": 0.199},
        training_seconds=1.5,
    )


@pytest.fixture
def registry() -> ModelRegistry:
    return ModelRegistry()  # in-memory persistence: the rule is under test, not the store


def test_first_model_becomes_champion(registry: ModelRegistry) -> None:
    first = registry.register(record("a", 0.200))
    assert registry.promote(first.model_id).model_id == first.model_id


def test_promotion_refuses_a_worse_model(registry: ModelRegistry) -> None:
    champion = registry.register(record("a", 0.200))
    worse = registry.register(record("b", 0.2001))
    registry.promote(champion.model_id)

    with pytest.raises(ChallengerWorse, match="worse than champion"):
        registry.promote(worse.model_id)

    current = registry.champion()
    assert current is not None
    assert current.model_id == champion.model_id


def test_promotion_accepts_a_not_worse_model(registry: ModelRegistry) -> None:
    champion = registry.register(record("a", 0.200))
    equal = registry.register(record("b", 0.200))
    better = registry.register(record("c", 0.199))
    registry.promote(champion.model_id)

    registry.promote(equal.model_id)
    registry.promote(better.model_id)

    current = registry.champion()
    assert current is not None
    assert current.model_id == better.model_id
    promoted = [e for e in registry.history() if type(e).__name__ == "ModelPromoted"]
    assert [e.model_id for e in promoted] == [  # type: ignore[attr-defined]
        champion.model_id,
        equal.model_id,
        better.model_id,
    ]


def test_different_holdouts_need_the_champion_rescored(registry: ModelRegistry) -> None:
    champion = registry.register(record("a", 0.210))
    other = registry.register(record("b", 0.200, holdout="fp-other"))
    registry.promote(champion.model_id)

    with pytest.raises(HoldoutsNotComparable):
        registry.promote(other.model_id)
    with pytest.raises(ChallengerWorse):
        registry.promote(other.model_id, champion_score=0.199)
    assert registry.promote(other.model_id, champion_score=0.201).model_id == other.model_id


def test_registering_the_same_artifact_twice_records_one_model(registry: ModelRegistry) -> None:
    registry.register(record("a", 0.2))
    registry.register(record("a", 0.2))

    trained = [e for e in registry.history() if isinstance(e, TrainedModel.ModelTrained)]
    assert len(trained) == 1


def test_unknown_and_repeated_promotions_are_refused(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFound):
        registry.promote("football-1x2-nope")
    model = registry.register(record("a", 0.2))
    registry.promote(model.model_id)
    with pytest.raises(AlreadyChampion):
        registry.promote(model.model_id)


def test_kinds_have_their_own_champions(registry: ModelRegistry) -> None:
    football = registry.register(record("a", 0.200))
    nba = registry.register(replace(record("b", 0.0), kind=NBA, holdout_metrics={"log_loss": 0.6}))
    assert nba.model_id.startswith("nba-")
    assert nba.metric == "log_loss"
    registry.promote(football.model_id)
    registry.promote(nba.model_id)

    worse = registry.register(
        replace(record("c", 0.0), kind=NBA, holdout_metrics={"log_loss": 0.61})
    )
    with pytest.raises(ChallengerWorse, match="log_loss"):
        registry.promote(worse.model_id)
    champions = registry.champion(FOOTBALL_1X2), registry.champion(NBA)
    assert [c.model_id for c in champions if c] == [football.model_id, nba.model_id]
    assert registry.champion(FOOTBALL_INPLAY) is None
    with pytest.raises(UnknownModelKind):
        registry.register(replace(record("d", 0.2), kind="cricket"))


def test_events_stored_before_kinds_read_as_football(registry: ModelRegistry) -> None:
    """Version-1 events (no kind, RPS-named scores) as stored before kinds existed."""
    model = registry.register(record("a", 0.200))
    registry.promote(model.model_id)
    old = ModelRegistry()
    for event in registry.history():
        stored = registry.mapper.to_stored_event(event)
        state = json.loads(stored.state)
        assert state.pop("class_version") in (2, 3)  # ModelTrained is at 3
        state.pop("kind", None)
        state.pop("scored_artifact_hash", None)
        state.pop("refit", None)
        if "metric" in state:
            del state["metric"]
            state["holdout_rps"] = state.pop("holdout_score")
            state["previous_rps"] = state.pop("previous_score")
        v1 = replace(stored, state=json.dumps(state).encode())
        old.recorder.insert_events([v1])

    again = old.model(model.model_id)
    assert (again.kind, again.holdout_score) == (FOOTBALL_1X2, 0.200)
    champion = old.champion()
    assert champion is not None
    assert champion.kind == FOOTBALL_1X2
    assert (champion.model_id, champion.holdout_score) == (model.model_id, 0.200)


def test_models_registered_before_refits_deploy_the_artifact_they_were_scored_on(
    registry: ModelRegistry,
) -> None:
    """Version-2 `ModelTrained` (no refit fields) reads with the scored artifact deployed."""
    model = registry.register(record("b", 0.199))
    old = ModelRegistry()
    for event in registry.history():
        stored = registry.mapper.to_stored_event(event)
        state = json.loads(stored.state)
        if state.get("class_version") == 3:
            state["class_version"] = 2
            del state["scored_artifact_hash"], state["refit"]
        old.recorder.insert_events([replace(stored, state=json.dumps(state).encode())])
    again = old.model(model.model_id)
    assert again.scored_artifact_hash == again.artifact_hash == model.artifact_hash
    assert again.refit == {}


def test_a_refitted_model_records_both_artifacts(registry: ModelRegistry) -> None:
    refitted = replace(record("c", 0.198), scored_artifact_hash="ee" * 32, refit={"trees": 150})
    model = registry.register(refitted)
    again = registry.model(model.model_id)
    assert (again.artifact_hash, again.scored_artifact_hash) == (refitted.artifact_hash, "ee" * 32)
    assert again.refit == {"trees": 150}
    assert again.holdout_score == 0.198  # measured on the scored artifact
