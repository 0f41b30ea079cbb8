"""What the REST API needs from the read models; readmodels.postgres.api_queries provides it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from readmodels.postgres.api_queries import FixtureFilter, QuoteRow, Visibility
from readmodels.postgres.queries import (
    CalibrationBin,
    FeedPulseRow,
    FixtureRow,
    ForecastRow,
    IssuedForecastRow,
    LatestOddsRow,
    TrackRecordRow,
)


class ReadModels(Protocol):
    async def fixtures(
        self,
        seen: Visibility,
        where: FixtureFilter,
        *,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[FixtureRow]: ...

    async def fixture(self, fixture_id: UUID) -> FixtureRow | None: ...

    async def latest_odds(self, fixture_id: UUID) -> list[LatestOddsRow]: ...

    async def odds_history(
        self,
        fixture_id: UUID,
        *,
        market: str | None,
        source: str | None,
        after: int | None,
        limit: int,
    ) -> list[QuoteRow]: ...

    async def latest_forecasts(self, fixture_id: UUID) -> list[ForecastRow]: ...

    async def latest_forecasts_of(
        self, fixture_id: UUID
    ) -> tuple[str, str, list[ForecastRow]] | None: ...

    async def committed(self, projections: Sequence[str]) -> tuple[tuple[str, int, str], ...]: ...

    async def forecast_history(
        self, fixture_id: UUID, *, model_kind: str | None, after: int | None, limit: int
    ) -> list[IssuedForecastRow]: ...

    async def track_record(
        self,
        seen: Visibility,
        *,
        model_id: str | None = None,
        competition: str | None = None,
        season: str | None = None,
        track: str | None = None,
    ) -> list[TrackRecordRow]: ...

    async def calibration(
        self,
        seen: Visibility,
        *,
        model_id: str,
        competition: str | None = None,
        season: str | None = None,
        track: str | None = None,
    ) -> list[CalibrationBin]: ...

    async def pulses(self, seen: Visibility, now: datetime) -> list[FeedPulseRow]: ...

    async def quarantine_counts(self) -> dict[str, int]: ...
