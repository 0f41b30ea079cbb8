"""`audit verify` re-derives live in-play forecasts bit for bit however many it scores at once.

The forecaster records a draft's row as made alone (``feature_matrix([state])``); the row's
expected goals are solved for every row of a call at once, so a batch of rows differs from the
rows made one by one in their last bits. The audit asks the model with the recorded rows (after
checking they follow their states), not with rows it remade in one batch."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import numpy as np

from forecasting.inplay.model import FEATURE_NAMES, MatchState, feature_matrix
from infra.audit.rederive import RecordedForecast, rederive
from infra.forecasting.model_file import LoadedInPlayModel
from tests.small_models import small_inplay_model


def _states(n: int) -> list[MatchState]:
    rng = np.random.default_rng(5)
    return [
        MatchState(
            minute=int(rng.integers(1, 90)),
            home_goals=int(rng.integers(0, 4)),
            away_goals=int(rng.integers(0, 4)),
            home_reds=int(rng.integers(0, 2)),
            away_reds=0,
            prior=tuple(float(p) for p in rng.dirichlet([4, 3, 3])),  # type: ignore[arg-type]
        )
        for _ in range(n)
    ]


def _drafted_alone(n: int) -> tuple[bytes, list[RecordedForecast]]:
    """``n`` live forecasts as a forecaster records them, each drafted in a call of its own."""
    artifact = small_inplay_model()
    model = LoadedInPlayModel.from_bytes(artifact)
    return artifact, _recorded(model, _states(n), [model.predict_many([s])[0] for s in _states(n)])


def _recorded(
    model: LoadedInPlayModel, states: list[MatchState], scored: list[tuple[float, float, float]]
) -> list[RecordedForecast]:
    recorded = []
    for position, (state, probabilities) in enumerate(zip(states, scored, strict=True), start=1):
        row = feature_matrix([state])[0]
        recorded.append(
            RecordedForecast(
                position,
                uuid4(),
                "in-match-event",
                model.model_id,
                model.artifact_hash,
                dict(zip(FEATURE_NAMES, (float(v) for v in row), strict=True)),
                probabilities,
                position,
                (position,),
            )
        )
    return recorded


def test_forecasts_drafted_in_one_batch_rederive_bit_for_bit() -> None:
    """The forecaster drafts every live forecast of a catch-up, a replay or simultaneous
    matches in one call: each must be what its state gives alone, the row it records."""
    artifact = small_inplay_model()
    model = LoadedInPlayModel.from_bytes(artifact)
    states = _states(200)
    batched = model.predict_many(states)
    assert batched == [model.predict_many([s])[0] for s in states]
    report = rederive(_recorded(model, states, batched), {model.artifact_hash: artifact})
    assert report.checked == 200
    assert report.mismatches == []


def test_forecasts_drafted_one_by_one_rederive_bit_for_bit_in_one_call() -> None:
    artifact, recorded = _drafted_alone(200)
    states = [
        MatchState(0, 0, 0, 0, 0, (f.features["prior_home"], f.features["prior_draw"],
                                   f.features["prior_away"]))
        for f in recorded
    ]  # fmt: skip
    assert not np.array_equal(  # the premise: one call's rows are not the rows made alone
        feature_matrix(states), np.vstack([feature_matrix([s]) for s in states])
    )
    report = rederive(recorded, {recorded[0].artifact_hash: artifact})
    assert report.checked == 200
    assert report.mismatches == []


def test_a_row_that_does_not_follow_its_state_is_a_finding() -> None:
    artifact, recorded = _drafted_alone(20)
    features = dict(recorded[7].features)
    features["remaining_home_goals"] += 1e-3
    recorded[7] = replace(recorded[7], features=features)
    report = rederive(recorded, {recorded[0].artifact_hash: artifact})
    assert report.mismatches
    assert all("does not follow its state" in m.reason for m in report.mismatches)
