"""The football 1X2 kind of the model registry (`sportcast model train`'s default), trained from
a real event store holding ten days of each of three seasons: the model scored on the held-out
season is not the one deployed; the deployed one is the same recipe refitted on every season up
to the cut-off, and the record names both artifacts and the held-out scores (issue 16, item 3)."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from domain.model_registry import FOOTBALL_1X2
from forecasting.football.model import FootballModelParameters
from infra.embedded.nats import EmbeddedNats
from infra.forecasting.kinds import Candidate, FootballKind
from infra.forecasting.model_file import LoadedModel
from tests.integration.test_model_kinds import DATA, assert_is_its_artifact, replay

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
# Fit on the first, size and calibrate on the second, hold out the third.
WINDOWS = (
    ("2016", (date(2016, 9, 9), date(2016, 9, 19))),
    ("2017", (date(2017, 9, 8), date(2017, 9, 18))),
    ("2018", (date(2018, 9, 7), date(2018, 9, 17))),
)
# No standard-error margin: any validation gain keeps a correction, so both files carry trees.
PARAMETERS = FootballModelParameters(
    max_iterations=60, early_stopping_rounds=20, standard_errors=0.0
)


@pytest.fixture(scope="module")
def football(nats_server: EmbeddedNats) -> Candidate:
    store = replay(nats_server, [(name, "football", window) for name, window in WINDOWS])
    with store.feeds() as feeds:
        return FootballKind(PARAMETERS).train(feeds)


def test_the_deployed_football_artifact_is_the_holdout_recipe_refitted_on_every_season(
    football: Candidate,
) -> None:
    record = football.record
    assert_is_its_artifact(football)
    assert record.kind == FOOTBALL_1X2
    seasons = record.seasons
    assert len(seasons) == 3
    assert record.holdout_season == seasons[-1]
    # Both artifacts, each under its own hash: the scored one and the deployed refit.
    assert football.scored_artifact is not None
    assert record.scored_artifact_hash == hashlib.sha256(football.scored_artifact).hexdigest()
    assert record.scored_artifact_hash != record.artifact_hash
    scored = LoadedModel.from_bytes(football.scored_artifact).model
    deployed = LoadedModel.from_bytes(football.artifact).model
    assert record.hyperparameters["trees"] == scored.trees
    assert record.refit is not None
    assert record.refit["seasons"] == seasons  # the held-out season included
    assert record.refit["trees"] == deployed.trees
    assert record.refit["temperature"] == deployed.calibration.temperature
    # The held-out scores are the scored model's, out of sample.
    metrics = record.holdout_metrics
    assert {"rps", "log_loss", "ece", "opening_rps", "market_free_rps"} <= set(metrics)
    assert metrics["n"] > 50
    assert 0.0 < metrics["rps"] < 0.5
    # The registry keeps all of it.
    model = record.trained_model()
    assert (model.artifact_hash, model.scored_artifact_hash) == (
        record.artifact_hash,
        record.scored_artifact_hash,
    )
    assert model.holdout_metrics == metrics
    assert model.refit == record.refit
