"""A trained football model as one file: CatBoost's own format plus the calibration, hashed.

Two kinds: the pre-match 1X2 model and the in-play model, each under its own magic bytes.

The artifact hash (sha256 of the file's bytes) is what every ForecastIssued event records, so
an auditor can fetch exactly the model that produced a forecast.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoostClassifier

from forecasting.football.features import FootballFeatures
from forecasting.football.market_free import MarketFreeModel, ResultsFeatures
from forecasting.football.model import (
    FootballModel,
    StageCorrection,
    TemperatureCalibration,
)
from forecasting.inplay.model import DRAW_PEAK, InPlayModel, MatchState, feature_matrix

# Version 3: version 2 (a correction per trigger stage, odds-open and closing, either of which
# may be the market itself, no trees) plus the market-free model trained with it, for league
# fixtures nobody quotes. Version 2 files still load (no market-free model).
_MAGIC = b"SPORTCAST-MODEL-3\n"
_MAGIC_V2 = b"SPORTCAST-MODEL-2\n"
_MAGIC_V1 = b"SPORTCAST-MODEL-1\n"


def dump_model(model: FootballModel) -> bytes:
    header: dict[str, Any] = {}
    blobs = b""
    for stage, correction in (("opening", model.opening), ("closing", model.closing)):
        cbm = b"" if correction.booster is None else cbm_bytes(correction.booster)
        header[stage] = {
            "temperature": correction.calibration.temperature,
            "trees": correction.trees,
            "validation_gain": _finite_or_none(correction.validation_gain),
            "standard_error": _finite_or_none(correction.standard_error),
            "cbm_bytes": len(cbm),
        }
        blobs += cbm
    free = model.market_free
    if free is not None:
        cbm = cbm_bytes(free.booster)
        header["market_free"] = {
            "temperature": free.calibration.temperature,
            "trees": free.trees,
            "cbm_bytes": len(cbm),
        }
        blobs += cbm
    encoded = json.dumps(header, sort_keys=True).encode()
    return _MAGIC + len(encoded).to_bytes(4, "big") + encoded + blobs


def load_model(data: bytes) -> FootballModel:
    if data.startswith(_MAGIC_V1):
        raise ValueError(
            "a football model artifact of format 1 (one correction at odds-open, before the "
            "closing and market-free features): retrain it with `sportcast model train`"
        )
    magic = next((m for m in (_MAGIC, _MAGIC_V2) if data.startswith(m)), None)
    if magic is None:
        raise ValueError("not a sportcast model artifact")
    rest = data[len(magic) :]
    size = int.from_bytes(rest[:4], "big")
    header = json.loads(rest[4 : 4 + size])
    offset = 4 + size
    stages: dict[str, StageCorrection] = {}
    for stage in ("opening", "closing"):
        fields = header[stage]
        cbm = rest[offset : offset + int(fields["cbm_bytes"])]
        offset += len(cbm)
        booster = None
        if cbm:
            booster = CatBoostClassifier()
            booster.load_model(blob=cbm, format="cbm")
        stages[stage] = StageCorrection(
            booster,
            TemperatureCalibration(float(fields["temperature"])),
            int(fields["trees"]),
            _float(fields["validation_gain"]),
            _float(fields["standard_error"]),
        )
    market_free = None
    if "market_free" in header:
        fields = header["market_free"]
        booster = CatBoostClassifier()
        booster.load_model(blob=rest[offset : offset + int(fields["cbm_bytes"])], format="cbm")
        market_free = MarketFreeModel(
            booster, TemperatureCalibration(float(fields["temperature"])), int(fields["trees"])
        )
    opening = stages["opening"]
    return FootballModel(
        booster=opening.booster,
        calibration=opening.calibration,
        trees=opening.trees,
        validation_gain=opening.validation_gain,
        standard_error=opening.standard_error,
        closing=stages["closing"],
        market_free=market_free,
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _dump(magic: bytes, booster: Any, temperature: float, trees: int, **extra: float) -> bytes:
    cbm = cbm_bytes(booster)
    fields = {"temperature": temperature, "trees": trees, **extra}
    header = json.dumps(fields, sort_keys=True).encode()
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


def _load(magic: bytes, data: bytes, what: str) -> tuple[Any, dict[str, Any]]:
    if not data.startswith(magic):
        raise ValueError(f"not a sportcast {what} artifact")
    rest = data[len(magic) :]
    size = int.from_bytes(rest[:4], "big")
    header: dict[str, Any] = json.loads(rest[4 : 4 + size])
    booster = CatBoostClassifier()
    booster.load_model(blob=rest[4 + size :], format="cbm")
    return booster, header


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

    @property
    def market_free_id(self) -> str | None:
        """The market-free model's id (None: the artifact has none)."""
        if self.model.market_free is None:
            return None
        return f"football-market-free-{self.artifact_hash[:12]}"

    def predict_market_free(
        self, rows: Sequence[ResultsFeatures]
    ) -> list[tuple[float, float, float]]:
        """From results alone, one per row; ValueError when the artifact has no such model."""
        if self.model.market_free is None:
            raise ValueError("this football artifact has no market-free model")
        return [
            (float(h), float(d), float(a)) for h, d, a in self.model.market_free.predict_proba(rows)
        ]


# The in-play football model: the same layout under its own magic, so neither loads as the other.
# Each format records more of the Elo prior its market-free matches were trained on, and a
# reader of an earlier format must refuse a later one rather than give the model expected scores
# it was not trained on: format 2 adds the carry-over between editions, format 3 the host
# advantage. Earlier files still load with what they were trained on: format 1 carry-over 1 and
# no host advantage, format 2 its carry-over and no host advantage.
_INPLAY_MAGIC = b"SPORTCAST-INPLAY-3\n"
INPLAY_FORMAT = _INPLAY_MAGIC.decode().strip()
"""The format in-play artifacts are written in (what `train-inplay --out` writes)."""
_INPLAY_MAGIC_V2 = b"SPORTCAST-INPLAY-2\n"
_INPLAY_MAGIC_V1 = b"SPORTCAST-INPLAY-1\n"


def dump_inplay_model(model: InPlayModel) -> bytes:
    return _dump(
        _INPLAY_MAGIC,
        model.booster,
        model.calibration.temperature,
        model.trees,
        draw_peak=model.draw_peak,
        elo_scale=model.elo_scale,
        elo_carry_over=model.elo_carry_over,
        elo_host_advantage=model.elo_host_advantage,
    )


def load_inplay_model(data: bytes) -> InPlayModel:
    magic = next(
        (m for m in (_INPLAY_MAGIC_V1, _INPLAY_MAGIC_V2) if data.startswith(m)), _INPLAY_MAGIC
    )
    booster, header = _load(magic, data, "in-play")
    return InPlayModel(
        booster=booster,
        calibration=TemperatureCalibration(float(header["temperature"])),
        trees=int(header["trees"]),
        # Files written before the peak was recorded: the prior's default.
        draw_peak=float(header.get("draw_peak", DRAW_PEAK)),
        elo_scale=float(header.get("elo_scale", 1.0)),
        elo_carry_over=1.0 if magic == _INPLAY_MAGIC_V1 else float(header["elo_carry_over"]),
        elo_host_advantage=(float(header["elo_host_advantage"]) if magic == _INPLAY_MAGIC else 0.0),
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

    @property
    def draw_peak(self) -> float:
        return self.model.draw_peak

    @property
    def elo_scale(self) -> float:
        return self.model.elo_scale

    @property
    def elo_prior(self) -> tuple[float, float]:
        return self.model.elo_prior

    def predict_many(self, states: Sequence[MatchState]) -> list[tuple[float, float, float]]:
        """One (home, draw, away) per state, each exactly as if it were scored alone: its row is
        made by itself (``feature_matrix([state])``, the row a forecast records and the audit
        re-derives from). Rows made in one call differ in their last bits (the expected goals
        of a call are solved together), so a forecast drafted in a batch (catch-up, replays,
        simultaneous matches) would not re-derive bit for bit from its recorded row."""
        if not states:
            return []
        rows = np.vstack([feature_matrix([state]) for state in states])
        return [(float(h), float(d), float(a)) for h, d, a in self.model.predict_rows(rows)]
