"""The REST API's reads: the projections' query functions (readmodels.postgres.queries), plus
what only the API needs: listings filtered by the caller's plan (``Visibility``), keyset pages
of fixtures, and a fixture's latest forecasts in one round trip.

A plan is applied in SQL where the rows carry the sport (fixtures); the track record, calibration
and feed pulses carry only the competition, so they are filtered by the competitions the plan
covers (a competition name found under a sport outside the plan is left out altogether).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from readmodels.postgres import queries
from readmodels.postgres.queries import (
    CalibrationBin,
    FeedPulseRow,
    FixtureRow,
    ForecastRow,
    IssuedForecastRow,
    LatestOddsRow,
    OddsQuoteRow,
    TrackRecordRow,
)
from readmodels.postgres.schemas import live_schema, quoted

_FIXTURE_COLUMNS = ", ".join(f"f.{name}" for name in FixtureRow.__dataclass_fields__)
_FORECAST_COLUMNS = ", ".join(f"x.{name}" for name in ForecastRow.__dataclass_fields__)


@dataclass(frozen=True)
class Visibility:
    """What a caller may see: everything, whole sports, or ``sport/competition`` entries."""

    everything: bool = False
    sports: tuple[str, ...] = ()
    competitions: tuple[str, ...] = ()

    def allows(self, sport: str, competition: str) -> bool:
        return (
            self.everything or sport in self.sports or f"{sport}/{competition}" in self.competitions
        )


@dataclass(frozen=True)
class FixtureFilter:
    sport: str | None = None
    competition: str | None = None
    status: str | None = None
    kickoff_from: datetime | None = None
    kickoff_to: datetime | None = None


@dataclass(frozen=True)
class QuoteRow:
    """One quote of the odds history with the market and source of its book."""

    market: str
    source: str
    quote: OddsQuoteRow


class _Params:
    """Positional parameters ($1, $2, ...) collected while a query is put together."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"

    def visible(self, seen: Visibility, alias: str) -> str:
        if seen.everything:
            return "TRUE"
        return (
            f"({alias}.sport = ANY({self(list(seen.sports), '::text[]')}) OR "
            f"({alias}.sport || '/' || {alias}.competition) = "
            f"ANY({self(list(seen.competitions), '::text[]')}))"
        )


class ReadModelQueries:
    """The REST API's reads, on one asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def fixtures(
        self,
        seen: Visibility,
        where: FixtureFilter,
        *,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[FixtureRow]:
        """Fixtures by kick-off then id; ``after`` is the last (kickoff, id) already shown."""
        p = _Params()
        conditions = [p.visible(seen, "f")]
        for column, value in (
            ("f.sport", where.sport),
            ("f.competition", where.competition),
            ("f.status", where.status),
        ):
            if value is not None:
                conditions.append(f"{column} = {p(value)}")
        if where.kickoff_from is not None:
            conditions.append(f"f.kickoff >= {p(where.kickoff_from)}")
        if where.kickoff_to is not None:
            conditions.append(f"f.kickoff < {p(where.kickoff_to)}")
        if after is not None:
            conditions.append(f"(f.kickoff, f.fixture_id) > ({p(after[0])}, {p(after[1])})")
        sql = (
            f"SELECT {_FIXTURE_COLUMNS} FROM rm_fixtures.fixtures f "
            f"WHERE {' AND '.join(conditions)} ORDER BY f.kickoff, f.fixture_id LIMIT {p(limit)}"
        )
        return [FixtureRow(**dict(r)) for r in await self._pool.fetch(sql, *p.values)]

    async def fixture(self, fixture_id: UUID) -> FixtureRow | None:
        """One fixture whatever the caller's plan: the router decides (403 or 404)."""
        return await queries.get_fixture(self._pool, fixture_id)

    async def latest_odds(self, fixture_id: UUID) -> list[LatestOddsRow]:
        """The latest quote of each book that has been quoted."""
        rows = await queries.latest_odds(self._pool, fixture_id)
        return [r for r in rows if r.quoted_at is not None]

    async def odds_history(
        self,
        fixture_id: UUID,
        *,
        market: str | None,
        source: str | None,
        after: int | None,
        limit: int,
    ) -> list[QuoteRow]:
        books = {b.book_id: b for b in await queries.latest_odds(self._pool, fixture_id)}
        quotes = await queries.odds_history(
            self._pool,
            fixture_id,
            market=market,
            source=source,
            after_position=after or 0,
            limit=limit,
        )
        return [QuoteRow(books[q.book_id].market, books[q.book_id].source, q) for q in quotes]

    async def latest_forecasts(self, fixture_id: UUID) -> list[ForecastRow]:
        return await queries.latest_forecasts(self._pool, fixture_id)

    async def latest_forecasts_of(
        self, fixture_id: UUID
    ) -> tuple[str, str, list[ForecastRow]] | None:
        """The fixture's sport and competition with its latest forecasts, in one round trip
        (the API's hottest read); None when there is no such fixture."""
        rows = await self._pool.fetch(
            f"SELECT f.sport AS fixture_sport, f.competition AS fixture_competition, "
            f"{_FORECAST_COLUMNS} FROM rm_fixtures.fixtures f "
            f"LEFT JOIN rm_forecasts.latest_forecasts x ON x.fixture_id = f.fixture_id "
            f"WHERE f.fixture_id = $1 ORDER BY x.model_kind",
            fixture_id,
        )
        if not rows:
            return None
        forecasts = [
            ForecastRow(**{k: r[k] for k in ForecastRow.__dataclass_fields__})
            for r in rows
            if r["position"] is not None
        ]
        return rows[0]["fixture_sport"], rows[0]["fixture_competition"], forecasts

    async def committed(self, projections: Sequence[str]) -> tuple[tuple[str, int, str], ...]:
        """What the named projections have committed: per projection the schema serving it
        (its oid: a rebuild's switch changes it) and its position in each stream
        (``stream:position,...``). Two equal readings mean nothing was committed or switched
        in between."""
        parts, args = [], []
        for n, projection in enumerate(projections):
            schema = live_schema(projection)
            parts.append(
                f"SELECT ${2 * n + 1}::text, to_regnamespace(${2 * n + 2})::oid::bigint, "
                "coalesce(string_agg(stream || ':' || position, ',' ORDER BY stream), '') "
                f"FROM {quoted(schema)}.projection_position"
            )
            args += [projection, schema]
        rows = await self._pool.fetch(" UNION ALL ".join(parts), *args)
        return tuple(sorted((r[0], r[1], r[2]) for r in rows))

    async def forecast_history(
        self, fixture_id: UUID, *, model_kind: str | None, after: int | None, limit: int
    ) -> list[IssuedForecastRow]:
        return await queries.forecast_history(
            self._pool,
            fixture_id=fixture_id,
            model_kind=model_kind,
            after_position=after or 0,
            limit=limit,
        )

    async def visible_competitions(self, seen: Visibility) -> set[str] | None:
        """The competitions the plan covers (None: every one). A name that also appears under
        a sport outside the plan is left out, so nothing foreign leaks through it."""
        if seen.everything:
            return None
        pairs = await self._pool.fetch(
            "SELECT DISTINCT sport, competition FROM rm_track_record.fixtures "
            "UNION SELECT DISTINCT sport, competition FROM rm_fixtures.fixtures"
        )
        covered = {r["competition"] for r in pairs if seen.allows(r["sport"], r["competition"])}
        foreign = {r["competition"] for r in pairs if not seen.allows(r["sport"], r["competition"])}
        return covered - foreign

    async def track_record(
        self,
        seen: Visibility,
        *,
        model_id: str | None = None,
        competition: str | None = None,
        season: str | None = None,
        track: str | None = None,
    ) -> list[TrackRecordRow]:
        """Per model, competition, season and track, over the competitions the plan covers."""
        rows = await queries.track_record(
            self._pool, model_id=model_id, competition=competition, season=season, track=track
        )
        visible = await self.visible_competitions(seen)
        return rows if visible is None else [r for r in rows if r.competition in visible]

    async def calibration(
        self,
        seen: Visibility,
        *,
        model_id: str,
        competition: str | None = None,
        season: str | None = None,
        track: str | None = None,
    ) -> list[CalibrationBin]:
        """Reliability bins over the competitions the plan covers (bins of several
        competitions merged, weighted by their counts)."""
        visible = await self.visible_competitions(seen)
        if visible is None:
            return await queries.calibration(
                self._pool, model_id=model_id, competition=competition, season=season, track=track
            )
        names = sorted(visible if competition is None else visible & {competition})
        merged: dict[float, list[CalibrationBin]] = {}
        for name in names:
            for b in await queries.calibration(
                self._pool, model_id=model_id, competition=name, season=season, track=track
            ):
                merged.setdefault(b.low, []).append(b)
        return [_merge(bins) for _, bins in sorted(merged.items())]

    async def pulses(self, seen: Visibility, now: datetime) -> list[FeedPulseRow]:
        rows = await queries.feed_pulses(self._pool, now)
        visible = await self.visible_competitions(seen)
        return rows if visible is None else [r for r in rows if r.competition in visible]

    async def quarantine_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in await queries.quarantine_counts(self._pool):
            counts[row.reason_code] = counts.get(row.reason_code, 0) + row.held
        return counts


def _merge(bins: list[CalibrationBin]) -> CalibrationBin:
    count = sum(b.count for b in bins)
    return CalibrationBin(
        low=bins[0].low,
        high=bins[0].high,
        count=count,
        mean_predicted=sum(b.mean_predicted * b.count for b in bins) / count,
        observed_rate=sum(b.observed_rate * b.count for b in bins) / count,
    )
