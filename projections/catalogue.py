"""Every PostgreSQL projection, by name: what `sportcast projections` runs and rebuilds."""

from __future__ import annotations

from projections.feed_health import FeedHealthProjection
from projections.fixtures import FixturesProjection
from projections.forecasts import ForecastsProjection
from projections.odds import OddsProjection
from projections.postgres import PostgresProjection
from projections.quarantine import QuarantineProjection
from projections.track_record import TrackRecordProjection

POSTGRES_PROJECTIONS: dict[str, type[PostgresProjection]] = {
    p.name: p
    for p in (
        FixturesProjection,
        OddsProjection,
        ForecastsProjection,
        TrackRecordProjection,
        FeedHealthProjection,
        QuarantineProjection,
    )
}
ELSEWHERE_PROJECTIONS: dict[str, tuple[str, ...]] = {"analytics": ("events", "forecasts")}
"""Projections that keep their rows outside PostgreSQL (the analytics tables: DuckDB, Pinot),
with the streams they follow; they copy where they stand to rm_projector.positions_elsewhere."""
STREAMS = ("events", "forecasts", "feed_health", "quarantine")
"""The streams the projections follow, as they name them; infra maps each to a JetStream
stream (SPORTCAST_EVENTS, SPORTCAST_FORECASTS, SPORTCAST_FEED_HEALTH, SPORTCAST_QUARANTINE)."""


def postgres_projections(
    postgres_url: str, names: list[str] | None = None
) -> list[PostgresProjection]:
    unknown = set(names or ()) - set(POSTGRES_PROJECTIONS)
    if unknown:
        known = ", ".join(POSTGRES_PROJECTIONS)
        raise LookupError(f"no projection {', '.join(sorted(unknown))}; there are {known}")
    return [POSTGRES_PROJECTIONS[n](postgres_url) for n in names or POSTGRES_PROJECTIONS]
