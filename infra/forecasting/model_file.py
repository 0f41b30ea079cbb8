"""A trained football model as one file: CatBoost's own format plus the calibration, hashed.

Two kinds: the pre-match 1X2 model and the in-play model, each under its own magic bytes.

The artifact hash (sha256 of the file's bytes) is what every ForecastIssued event records, so
an auditor can fetch exactly the model that produced a forecast.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catboost import CatBoostClassifier

from forecasting.football.features import FootballFeatures
from forecasting.football.model import FootballModel, TemperatureCalibration
from forecasting.inplay.model import InPlayModel, MatchState

_MAGIC = b"SPORTCAST-MODEL-1\n"


def dump_model(model: FootballModel) -> bytes:
    return _dump(_MAGIC, model.booster, model.calibration.temperature, model.trees)


def load_model(data: bytes) -> FootballModel:
    booster, temperature, trees = _load(_MAGIC, data, "model")
    return FootballModel(
        booster=booster, calibration=TemperatureCalibration(temperature), trees=trees
    )


def _dump(magic: bytes, booster: Any, temperature: float, trees: int) -> bytes:
    cbm = cbm_bytes(booster)
    header = json.dumps({"temperature": temperature, "trees": trees}, sort_keys=True).encode()
    return magic + len(header).to_bytes(4, "big") + header + cbm


def cbm_bytes(booster: Any) -> bytes:
    """CatBoost's own format, the same bytes for the same trained model: CatBoost stamps each
    model with a random guid and the time training finished, which would give a model retrained
    from the same log and seed another artifact hash. Both are pinned (the ModelTrained event
    records when training ran)."""
    metadata = booster.get_metadata()
    metadata["model_guid"] = "sportcast"
    metadata["train_finish_time"] = ""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.cbm"
        booster.save_model(str(path), format="cbm")
        return path.read_bytes()


def _load(magic: bytes, data: bytes, what: str) -> tuple[Any, float, int]:
    if not data.startswith(magic):
        raise ValueError(f"not a sportcast {what} artifact")
    rest = data[len(magic) :]
    size = int.from_bytes(rest[:4], "big")
    header = json.loads(rest[4 : 4 + size])
    booster = CatBoostClassifier()
    booster.load_model(blob=rest[4 + size :], format="cbm")
    return booster, float(header["temperature"]), int(header["trees"])


@dataclass(frozen=True)
class LoadedModel:
    """A FootballModel with the identity the forecaster records."""

    model: FootballModel
    model_id: str
    artifact_hash: str

    @classmethod
    def from_bytes(cls, data: bytes, *, model_id: str | None = None) -> LoadedModel:
        digest = hashlib.sha256(data).hexdigest()
        return cls(load_model(data), model_id or f"football-1x2-{digest[:12]}", digest)

    def predict(self, features: FootballFeatures) -> tuple[float, float, float]:
        return self.predict_many([features])[0]

    def predict_many(self, rows: Sequence[FootballFeatures]) -> list[tuple[float, float, float]]:
        """One call for many rows: CatBoost's per-call cost is most of a single row's."""
        return [(float(h), float(d), float(a)) for h, d, a in self.model.predict_proba(rows)]


# The in-play football model: the same layout under its own magic, so neither loads as the other.
_INPLAY_MAGIC = b"SPORTCAST-INPLAY-1\n"


def dump_inplay_model(model: InPlayModel) -> bytes:
    return _dump(_INPLAY_MAGIC, model.booster, model.calibration.temperature, model.trees)


def load_inplay_model(data: bytes) -> InPlayModel:
    booster, temperature, trees = _load(_INPLAY_MAGIC, data, "in-play")
    return InPlayModel(
        booster=booster, calibration=TemperatureCalibration(temperature), trees=trees
    )


@dataclass(frozen=True)
class LoadedInPlayModel:
    """An InPlayModel with the identity the forecaster records."""

    model: InPlayModel
    model_id: str
    artifact_hash: str

    @classmethod
    def from_bytes(cls, data: bytes, *, model_id: str | None = None) -> LoadedInPlayModel:
        digest = hashlib.sha256(data).hexdigest()
        return cls(load_inplay_model(data), model_id or f"football-inplay-{digest[:12]}", digest)

    def predict_many(self, states: Sequence[MatchState]) -> list[tuple[float, float, float]]:
        return [(float(h), float(d), float(a)) for h, d, a in self.model.predict_proba(states)]
