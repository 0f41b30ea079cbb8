"""A trained football model as one file: CatBoost's own format plus the calibration, hashed.

The artifact hash (sha256 of the file's bytes) is what every ForecastIssued event records, so
an auditor can fetch exactly the model that produced a forecast.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from catboost import CatBoostClassifier

from commands.forecasting.features import FootballFeatures
from commands.forecasting.football_model import FootballModel, TemperatureCalibration

_MAGIC = b"SPORTCAST-MODEL-1\n"


def dump_model(model: FootballModel) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.cbm"
        model.booster.save_model(str(path), format="cbm")
        booster = path.read_bytes()
    header = json.dumps(
        {"temperature": model.calibration.temperature, "trees": model.trees}, sort_keys=True
    ).encode()
    return _MAGIC + len(header).to_bytes(4, "big") + header + booster


def load_model(data: bytes) -> FootballModel:
    if not data.startswith(_MAGIC):
        raise ValueError("not a sportcast model artifact")
    rest = data[len(_MAGIC) :]
    size = int.from_bytes(rest[:4], "big")
    header = json.loads(rest[4 : 4 + size])
    booster = CatBoostClassifier()
    booster.load_model(blob=rest[4 + size :], format="cbm")
    return FootballModel(
        booster=booster,
        calibration=TemperatureCalibration(float(header["temperature"])),
        trees=int(header["trees"]),
    )


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
        home, draw, away = (float(p) for p in self.model.predict_proba([features])[0])
        return home, draw, away
