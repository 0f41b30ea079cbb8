"""The NBA models as one file: the pre-game model (CatBoost's own format, absent when zero
trees won: the market itself), the in-play quarter fits and (format 2) the market-free pre-game
model for games nobody quotes (absent when zero trees won: Elo itself), under a JSON header,
hashed.

The artifact hash (sha256 of the file's bytes) is what every NBA ForecastIssued records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from catboost import CatBoostClassifier

from forecasting.nba.features import NbaFeatures
from forecasting.nba.inplay import NbaInPlayModel, NbaQuarterState, QuarterFit
from forecasting.nba.model import RESULTS_VIEW, NbaModel
from infra.forecasting.model_file import cbm_bytes

_MAGIC_V1 = b"SPORTCAST-NBA-1\n"
_MAGIC = b"SPORTCAST-NBA-2\n"
NBA_FORMAT = _MAGIC.decode().strip()
"""The format NBA artifacts are written in (what `train-nba --out` writes)."""


def dump_nba_models(
    pregame: NbaModel, inplay: NbaInPlayModel, market_free: NbaModel | None = None
) -> bytes:
    cbm = b"" if pregame.booster is None else cbm_bytes(pregame.booster)
    header: dict[str, Any] = {
        "trees": pregame.trees,
        "validation_gain": pregame.validation_gain,
        "cbm_bytes": len(cbm),
        "inplay": {
            str(q): [f.prior_weight, f.lead_weight, f.intercept]
            for q, f in sorted(inplay.fits.items())
        },
    }
    free_cbm = b""
    if market_free is not None:
        free_cbm = b"" if market_free.booster is None else cbm_bytes(market_free.booster)
        header["market_free"] = {
            "trees": market_free.trees,
            "validation_gain": market_free.validation_gain,
            "cbm_bytes": len(free_cbm),
        }
    encoded = json.dumps(header, sort_keys=True).encode()
    return _MAGIC + len(encoded).to_bytes(4, "big") + encoded + cbm + free_cbm


def load_nba_models(data: bytes) -> tuple[NbaModel, NbaInPlayModel]:
    pregame, inplay, _ = load_nba_file(data)
    return pregame, inplay


def load_nba_file(data: bytes) -> tuple[NbaModel, NbaInPlayModel, NbaModel | None]:
    """The pre-game, in-play and market-free models (None in a format-1 file)."""
    if data.startswith(_MAGIC_V1):
        magic = _MAGIC_V1
    elif data.startswith(_MAGIC):
        magic = _MAGIC
    else:
        raise ValueError("not a sportcast NBA model artifact")
    rest = data[len(magic) :]
    size = int.from_bytes(rest[:4], "big")
    header = json.loads(rest[4 : 4 + size])
    blobs = rest[4 + size :]
    cbm = blobs[: int(header.get("cbm_bytes", len(blobs)))]
    pregame = NbaModel(
        booster=_booster(cbm),
        trees=int(header["trees"]),
        validation_gain=header["validation_gain"],
    )
    fits = {int(q): QuarterFit(*(float(v) for v in f)) for q, f in header["inplay"].items()}
    free = header.get("market_free")
    market_free = None
    if free is not None:
        market_free = NbaModel(
            booster=_booster(blobs[len(cbm) : len(cbm) + int(free["cbm_bytes"])]),
            trees=int(free["trees"]),
            validation_gain=free["validation_gain"],
            view=RESULTS_VIEW,
        )
    return pregame, NbaInPlayModel(fits), market_free


def _booster(cbm: bytes) -> Any:
    if not cbm:
        return None
    booster = CatBoostClassifier()
    booster.load_model(blob=cbm, format="cbm")
    return booster


@dataclass(frozen=True)
class LoadedNbaModels:
    """Both NBA models with the identities the forecaster records."""

    pregame: NbaModel
    inplay: NbaInPlayModel
    artifact_hash: str
    market_free: NbaModel | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> LoadedNbaModels:
        pregame, inplay, market_free = load_nba_file(data)
        return cls(pregame, inplay, hashlib.sha256(data).hexdigest(), market_free)

    @property
    def market_free_id(self) -> str | None:
        """None: the file has no market-free model (format 1), so games nobody quotes get
        no forecast."""
        if self.market_free is None:
            return None
        return f"nba-marketfree-{self.artifact_hash[:12]}"

    def predict_market_free(self, rows: Sequence[NbaFeatures]) -> list[float]:
        """The home side's win probability from results alone, one per row."""
        if self.market_free is None:
            raise ValueError("this NBA artifact has no market-free model")
        return [float(p) for p in self.market_free.predict_home(rows)]

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
