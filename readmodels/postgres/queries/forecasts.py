"""Forecasts: every one issued, and the latest per fixture and model kind (rm_forecasts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from orjson import loads

from readmodels.postgres.queries._base import Queryable, rows_as, where

_COLUMNS = (
    "position, fixture_id, version, model_kind, issued_at, kickoff, trigger, model_id,"
    " artifact_hash, market, outcomes, probabilities, market_probabilities, edge, as_of_position"
)


@dataclass(frozen=True)
class ForecastRow:
    position: int
    """The ForecastIssued event's notification id in the forecasts stream."""
    fixture_id: UUID
    version: int
    model_kind: str
    issued_at: datetime
    kickoff: datetime
    trigger: str
    model_id: str
    artifact_hash: str
    market: str
    outcomes: list[str]
    probabilities: list[float]
    market_probabilities: list[float]
    edge: list[float]
    """Model minus market, per outcome."""
    as_of_position: int
    """The feed notification id the forecast was computed as of."""


@dataclass(frozen=True)
class IssuedForecastRow(ForecastRow):
    """A forecast of the history, with its inputs."""

    features: dict[str, float] | None
    """The feature vector its ForecastIssued event recorded (None: projected before the
    column existed; a rebuild of the forecasts projection fills it)."""


async def latest_forecasts(
    db: Queryable, fixture_id: UUID, *, model_kind: str | None = None
) -> list[ForecastRow]:
    clause, args = where([("fixture_id = {}", fixture_id), ("model_kind = {}", model_kind)])
    records = await db.fetch(
        f"SELECT {_COLUMNS} FROM rm_forecasts.latest_forecasts{clause} ORDER BY model_kind",
        *args,
    )
    return rows_as(ForecastRow, records)


async def forecast_history(
    db: Queryable,
    *,
    fixture_id: UUID | None = None,
    model_kind: str | None = None,
    after_position: int = 0,
    limit: int = 1000,
) -> list[IssuedForecastRow]:
    """Forecasts in issue order (``after_position`` pages on), for one fixture or all."""
    clause, args = where(
        [
            ("fixture_id = {}", fixture_id),
            ("model_kind = {}", model_kind),
            ("position > {}", after_position),
        ]
    )
    args.append(limit)
    records = await db.fetch(
        f"SELECT {_COLUMNS}, features::text AS features FROM rm_forecasts.forecasts{clause}"
        f" ORDER BY position LIMIT ${len(args)}",
        *args,
    )
    return [
        IssuedForecastRow(
            **{**dict(r), "features": None if r["features"] is None else loads(r["features"])}
        )
        for r in records
    ]
