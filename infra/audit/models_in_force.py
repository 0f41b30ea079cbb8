"""The model artifacts a forecaster held at each feed position, read from the forecasts it issued.

Rebuilding a feature vector sometimes needs a model: a fixture nobody quoted drafts its kick-off
forecast from the football artifact's market-free model (a league) or the in-play artifact's Elo
calibration (a World Cup), and its in-play rows start from that prior; an NBA game without a line
starts its quarters from the market-free model. The forecaster held one artifact of each kind at a
time (switched by promotions), and every forecast names the artifact it was made with, so the
artifact of a kind in force when feed position ``p`` was drafted is the one named by the last
forecast of that kind made at or before ``p`` (a re-issue at ``p`` follows a promotion after
``p``, so it counts from ``p + 1``). The artifacts are the stored ones, fetched by their hash.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from commands.forecasting.drafts import MODEL_PROMOTED
from infra.audit.rederive import RecordedForecast
from infra.forecasting.artifacts import ArtifactIntegrityError
from infra.forecasting.model_file import LoadedInPlayModel, LoadedModel
from infra.forecasting.nba_model_file import LoadedNbaModels

FOOTBALL, INPLAY, NBA = "football", "inplay", "nba"
# Each artifact kind by its leading magic bytes (infra/forecasting/*model_file.py).
_KINDS: dict[bytes, tuple[str, Any]] = {
    b"SPORTCAST-MODEL-2\n": (FOOTBALL, LoadedModel.from_bytes),
    b"SPORTCAST-MODEL-3\n": (FOOTBALL, LoadedModel.from_bytes),
    b"SPORTCAST-INPLAY-1\n": (INPLAY, LoadedInPlayModel.from_bytes),
    b"SPORTCAST-INPLAY-2\n": (INPLAY, LoadedInPlayModel.from_bytes),
    b"SPORTCAST-INPLAY-3\n": (INPLAY, LoadedInPlayModel.from_bytes),
    b"SPORTCAST-NBA-1\n": (NBA, LoadedNbaModels.from_bytes),
    b"SPORTCAST-NBA-2\n": (NBA, LoadedNbaModels.from_bytes),
}


@dataclass(frozen=True)
class Models:
    football: LoadedModel | None = None
    inplay: LoadedInPlayModel | None = None
    nba: LoadedNbaModels | None = None


@dataclass
class ModelsInForce:
    """The loaded artifacts by kind, each with the positions from which it was in force."""

    unusable: dict[str, str] = field(default_factory=dict)  # artifact hash: why not loaded
    _starts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    _models: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        forecasts: Sequence[RecordedForecast],
        artifacts: dict[str, bytes | ArtifactIntegrityError],
    ) -> ModelsInForce:
        out = cls()
        loaded: dict[str, tuple[str, Any]] = {}
        for artifact_hash, artifact in artifacts.items():
            try:
                loaded[artifact_hash] = _load(artifact)
            except (ValueError, TypeError, KeyError, ArtifactIntegrityError) as error:
                out.unusable[artifact_hash] = _why(artifact_hash, error)
        # A forecast counts from its trigger's position; a re-issue from the next one.
        ordered = sorted(forecasts, key=lambda f: (_start(f), f.position))
        for f in ordered:
            if f.artifact_hash not in loaded:
                continue
            kind, model = loaded[f.artifact_hash]
            models = out._models.setdefault(kind, [])
            if models and models[-1] is model:
                continue
            out._starts.setdefault(kind, []).append((_start(f), f.position))
            models.append(model)
        return out

    def at(self, position: int) -> Models:
        """The artifacts in force when the feed event at ``position`` was drafted."""
        return Models(
            football=self._kind(FOOTBALL, position),
            inplay=self._kind(INPLAY, position),
            nba=self._kind(NBA, position),
        )

    def _kind(self, kind: str, position: int) -> Any:
        starts = self._starts.get(kind, [])
        i = bisect.bisect_right(starts, (position, 2**63))
        return self._models[kind][i - 1] if i else None


def _start(f: RecordedForecast) -> int:
    return f.as_of_position + 1 if f.trigger == MODEL_PROMOTED else f.as_of_position


def _load(artifact: bytes | ArtifactIntegrityError) -> tuple[str, Any]:
    if isinstance(artifact, ArtifactIntegrityError):
        raise artifact
    for magic, (kind, load) in _KINDS.items():
        if artifact.startswith(magic):
            return kind, load(artifact)
    raise ValueError(f"unknown kind of model artifact (starts {artifact[:24]!r})")


def _why(artifact_hash: str, error: Exception) -> str:
    if isinstance(error, ArtifactIntegrityError):
        return f"artifact {artifact_hash[:12]} changed after it was stored: {error}"
    return f"artifact {artifact_hash[:12]} cannot be loaded: {error!r}"
