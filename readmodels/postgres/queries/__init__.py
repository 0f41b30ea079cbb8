"""Query functions over the read models, returning typed rows; the gateway calls these with an
asyncpg pool or connection. Names here are stable: the REST API and SSE gateway build on them."""

from __future__ import annotations

from readmodels.postgres.queries.feed_health import (
    FeedPulseRow,
    QuarantineCount,
    StaleEpisodeRow,
    feed_pulses,
    quarantine_counts,
    stale_episodes,
)
from readmodels.postgres.queries.fixtures import FixtureRow, get_fixture, list_fixtures
from readmodels.postgres.queries.forecasts import (
    ForecastRow,
    IssuedForecastRow,
    forecast_history,
    latest_forecasts,
)
from readmodels.postgres.queries.odds import LatestOddsRow, OddsQuoteRow, latest_odds, odds_history
from readmodels.postgres.queries.track_record import (
    CalibrationBin,
    SettledForecastRow,
    TrackRecordRow,
    calibration,
    settled_forecasts,
    track_record,
)

__all__ = [
    "CalibrationBin",
    "FeedPulseRow",
    "FixtureRow",
    "ForecastRow",
    "IssuedForecastRow",
    "LatestOddsRow",
    "OddsQuoteRow",
    "QuarantineCount",
    "SettledForecastRow",
    "StaleEpisodeRow",
    "TrackRecordRow",
    "calibration",
    "feed_pulses",
    "forecast_history",
    "get_fixture",
    "latest_forecasts",
    "latest_odds",
    "list_fixtures",
    "odds_history",
    "quarantine_counts",
    "settled_forecasts",
    "stale_episodes",
    "track_record",
]
