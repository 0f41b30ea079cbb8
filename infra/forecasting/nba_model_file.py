"""The NBA models as one file: the pre-game model (CatBoost's own format, absent when zero
trees won: the market itself) and the in-play quarter fits, under a JSON header, hashed.

The artifact hash (sha256 of the file's bytes) is what every NBA ForecastIssued records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from catboost import CatBoostClassifier

from forecasting.nba.features import NbaFeatures
from forecasting.nba.inplay import NbaInPlayModel, NbaQuarterState, QuarterFit
from forecasting.nba.model import NbaModel
from infra.forecasting.model_file import cbm_bytes

_MAGIC = b"SPORTCAST-NBA-1\n"


def dump_nba_models(pregame: NbaModel, inplay: NbaInPlayModel) -> bytes:
    cbm = b"" if pregame.booster is None else cbm_bytes(pregame.booster)
    header = {
        "trees": pregame.trees,
        "validation_gain": pregame.validation_gain,
        "inplay": {
            str(q): [f.prior_weight, f.lead_weight, f.intercept]
            for q, f in sorted(inplay.fits.items())
        },
    }
    encoded = json.dumps(header, sort_keys=True).encode()
    return _MAGIC + len(encoded).to_bytes(4, "big") + encoded + cbm


def load_nba_models(data: bytes) -> tuple[NbaModel, NbaInPlayModel]:
    if not data.startswith(_MAGIC):
        raise ValueError("not a sportcast NBA model artifact")
    rest = data[len(_MAGIC) :]
    size = int.from_bytes(rest[:4], "big")
    header = json.loads(rest[4 : 4 + size])
    cbm = rest[4 + size :]
    booster = None
    if cbm:
        booster = CatBoostClassifier()
        booster.load_model(blob=cbm, format="cbm")
    pregame = NbaModel(
        booster=booster, trees=int(header["trees"]), validation_gain=header["validation_gain"]
    )
    fits = {int(q): QuarterFit(*(float(v) for v in f)) for q, f in header["inplay"].items()}
    return pregame, NbaInPlayModel(fits)


@dataclass(frozen=True)
class LoadedNbaModels:
    """Both NBA models with the identities the forecaster records."""

    pregame: NbaModel
    inplay: NbaInPlayModel
    artifact_hash: str

    @classmethod
    def from_bytes(cls, data: bytes) -> LoadedNbaModels:
        pregame, inplay = load_nba_models(data)
        return cls(pregame, inplay, hashlib.sha256(data).hexdigest())

    @property
    def pregame_id(self) -> str:
        return f"nba-pregame-{self.artifact_hash[:12]}"

    @property
    def inplay_id(self) -> str:
        return f"nba-inplay-{self.artifact_hash[:12]}"

    def predict_pregame(self, rows: Sequence[NbaFeatures]) -> list[float]:
        """The home side's win probability, one per row."""
        return [float(p) for p in self.pregame.predict_home(rows)]

    def predict_inplay(self, states: Sequence[NbaQuarterState]) -> list[float]:
        return [float(p) for p in self.inplay.predict_home(states)]
