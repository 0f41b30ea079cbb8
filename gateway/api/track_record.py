"""The public track record: each model's mean scores on settled forecasts, beside the market's
on the same forecasts, and its calibration."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.api.entitlement import visibility
from gateway.deps import Reader, ReadModelsDep
from readmodels.postgres.queries import TrackRecordRow

router = APIRouter(prefix="/v1/track-record", tags=["track record"])


class ScoresPublic(BaseModel):
    rps: float | None
    log_loss: float | None
    brier: float | None


class TrackRecordPublic(BaseModel):
    model_id: str
    model_kind: str
    competition: str
    season: str
    track: str
    """odds-open, close, in-play (or the trigger)."""
    forecasts: int
    model: ScoresPublic
    market: ScoresPublic
    """The market's own scores on the same forecasts (lower is better for all three)."""


class CalibrationBinPublic(BaseModel):
    lower: float
    upper: float
    forecasts: int
    mean_predicted: float
    observed: float


class ModelTrackRecordPublic(BaseModel):
    model_id: str
    records: list[TrackRecordPublic]
    calibration: list[CalibrationBinPublic]
    """Predicted against observed per 10% bucket, over every outcome of every forecast."""


@router.get("", response_model=list[TrackRecordPublic])
async def track_records(
    principal: Reader,
    reads: ReadModelsDep,
    competition: str | None = None,
    season: str | None = None,
    track: str | None = None,
) -> list[TrackRecordPublic]:
    """Each model's record per competition, season and track, over the competitions the
    caller's plan covers."""
    rows = await reads.track_record(
        visibility(principal), competition=competition, season=season, track=track
    )
    return [_record(r) for r in rows]


@router.get("/{model_id}", response_model=ModelTrackRecordPublic)
async def model_track_record(
    model_id: str,
    principal: Reader,
    reads: ReadModelsDep,
    competition: str | None = None,
    season: str | None = None,
    track: str | None = None,
) -> ModelTrackRecordPublic:
    """One model's record per track, and its calibration bins."""
    seen = visibility(principal)
    rows = await reads.track_record(
        seen, model_id=model_id, competition=competition, season=season, track=track
    )
    bins = await reads.calibration(
        seen, model_id=model_id, competition=competition, season=season, track=track
    )
    return ModelTrackRecordPublic(
        model_id=model_id,
        records=[_record(r) for r in rows],
        calibration=[
            CalibrationBinPublic(
                lower=b.low,
                upper=b.high,
                forecasts=b.count,
                mean_predicted=b.mean_predicted,
                observed=b.observed_rate,
            )
            for b in bins
        ],
    )


def _record(r: TrackRecordRow) -> TrackRecordPublic:
    return TrackRecordPublic(
        model_id=r.model_id,
        model_kind=r.model_kind,
        competition=r.competition,
        season=r.season,
        track=r.track,
        forecasts=r.forecasts,
        model=ScoresPublic(rps=r.rps, log_loss=r.log_loss, brier=r.brier),
        market=ScoresPublic(rps=r.market_rps, log_loss=r.market_log_loss, brier=r.market_brier),
    )
