"""The public track record: settled forecasts' scores per model, competition, season and track
(odds-open, close, in-play), beside the market's scores on the same forecasts, and calibration
bins per 10% bucket (rm_track_record)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from readmodels.postgres.queries._base import Queryable, rows_as, where

BINS = 10


@dataclass(frozen=True)
class TrackRecordRow:
    model_id: str
    model_kind: str
    competition: str
    season: str
    track: str
    forecasts: int
    rps: float
    log_loss: float
    brier: float
    market_rps: float
    market_log_loss: float
    market_brier: float


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class SettledForecastRow:
    position: int
    fixture_id: UUID
    model_kind: str
    model_id: str
    trigger: str
    track: str
    outcomes: list[str]
    probabilities: list[float]
    market_probabilities: list[float]
    outcome: int | None
    rps: float | None
    log_loss: float | None
    brier: float | None
    market_rps: float | None
    market_log_loss: float | None
    market_brier: float | None
    result_position: int | None


def _filters(
    model_id: str | None,
    model_kind: str | None,
    competition: str | None,
    season: str | None,
    track: str | None,
) -> tuple[str, list[object]]:
    clause, args = where(
        [
            ("s.model_id = {}", model_id),
            ("s.model_kind = {}", model_kind),
            ("f.competition = {}", competition),
            ("f.season = {}", season),
            ("s.track = {}", track),
        ]
    )
    settled = "s.outcome IS NOT NULL"
    return (f"{clause} AND {settled}" if clause else f" WHERE {settled}"), args


async def track_record(
    db: Queryable,
    *,
    model_id: str | None = None,
    model_kind: str | None = None,
    competition: str | None = None,
    season: str | None = None,
    track: str | None = None,
) -> list[TrackRecordRow]:
    """Mean scores of the settled forecasts, one row per model, competition, season, track."""
    clause, args = _filters(model_id, model_kind, competition, season, track)
    records = await db.fetch(
        "SELECT s.model_id, s.model_kind, f.competition, f.season, s.track,"
        " count(*)::int AS forecasts, avg(s.rps) AS rps, avg(s.log_loss) AS log_loss,"
        " avg(s.brier) AS brier, avg(s.market_rps) AS market_rps,"
        " avg(s.market_log_loss) AS market_log_loss, avg(s.market_brier) AS market_brier"
        " FROM rm_track_record.settled_forecasts s"
        f" JOIN rm_track_record.fixtures f USING (fixture_id){clause}"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 3, 4, 5",
        *args,
    )
    return rows_as(TrackRecordRow, records)


async def calibration(
    db: Queryable,
    *,
    model_id: str | None = None,
    model_kind: str | None = None,
    competition: str | None = None,
    season: str | None = None,
    track: str | None = None,
    of_market: bool = False,
) -> list[CalibrationBin]:
    """Every outcome's predicted probability (the market's with ``of_market``) in ten
    equal-width bins, as the evaluation's reliability bins: count, mean predicted, observed
    rate. Empty bins are left out."""
    clause, args = _filters(model_id, model_kind, competition, season, track)
    column = "s.market_probabilities" if of_market else "s.probabilities"
    records = await db.fetch(
        f"SELECT least(floor(u.p * {BINS})::int, {BINS - 1}) AS bin, count(*)::int AS count,"
        " avg(u.p) AS mean_predicted,"
        " avg(CASE WHEN u.i - 1 = s.outcome THEN 1.0 ELSE 0.0 END)::float8 AS observed_rate"
        " FROM rm_track_record.settled_forecasts s"
        " JOIN rm_track_record.fixtures f USING (fixture_id),"
        f" unnest({column}) WITH ORDINALITY AS u(p, i){clause}"
        " GROUP BY 1 ORDER BY 1",
        *args,
    )
    return [
        CalibrationBin(
            low=r["bin"] / BINS,
            high=(r["bin"] + 1) / BINS,
            count=r["count"],
            mean_predicted=r["mean_predicted"],
            observed_rate=r["observed_rate"],
        )
        for r in records
    ]


async def settled_forecasts(
    db: Queryable, *, fixture_id: UUID | None = None, after_position: int = 0, limit: int = 1000
) -> list[SettledForecastRow]:
    clause, args = where([("fixture_id = {}", fixture_id), ("position > {}", after_position)])
    args.append(limit)
    records = await db.fetch(
        "SELECT position, fixture_id, model_kind, model_id, trigger, track, outcomes,"
        " probabilities, market_probabilities, outcome, rps, log_loss, brier, market_rps,"
        " market_log_loss, market_brier, result_position"
        f" FROM rm_track_record.settled_forecasts{clause} ORDER BY position LIMIT ${len(args)}",
        *args,
    )
    return rows_as(SettledForecastRow, records)
