"""An artifact loaded as the forecaster serves its kind, refused when the forecaster could not
serve it (checked at promotion, at a champion switch and at start-up from a model file)."""

from __future__ import annotations

from domain.model_registry import FOOTBALL_INPLAY, NBA
from forecasting.inplay.model import KEPT_PRIORS
from infra.forecasting.artifacts import ArtifactError
from infra.forecasting.model_file import LoadedInPlayModel, LoadedModel
from infra.forecasting.nba_model_file import LoadedNbaModels

Loaded = LoadedModel | LoadedNbaModels | LoadedInPlayModel
"""A champion's artifact, loaded as the forecaster uses its kind."""


class ArtifactNotServableError(ArtifactError):
    """An artifact that loads but that the forecaster could not serve."""

    code = "artifact-not-servable"


def load_artifact(kind: str, model_id: str, data: bytes) -> Loaded:
    if kind == NBA:
        return LoadedNbaModels.from_bytes(data)
    if kind == FOOTBALL_INPLAY:
        return servable_inplay(LoadedInPlayModel.from_bytes(data, model_id=model_id))
    return LoadedModel.from_bytes(data, model_id=model_id)


def servable_inplay(model: LoadedInPlayModel) -> LoadedInPlayModel:
    """The model, if the forecaster keeps the Elo prior it was trained on: a World Cup kick-off
    takes its expected score under the artifact's prior (EloPriors), and one it does not keep
    would fail there, mid-match, rather than here."""
    if model.elo_prior not in KEPT_PRIORS:
        carry, host = model.elo_prior
        raise ArtifactNotServableError(
            f"in-play model {model.model_id} was trained on the Elo prior with carry-over "
            f"{carry} and host advantage {host}; the forecaster keeps it only with "
            + ", ".join(f"({c}, {h})" for c, h in KEPT_PRIORS)
        )
    return model
