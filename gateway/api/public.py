"""The shapes the REST API answers with (``XPublic``), made from read-model rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from domain.odds import Market
from readmodels.postgres.api_queries import QuoteRow
from readmodels.postgres.queries import FixtureRow, ForecastRow, IssuedForecastRow, LatestOddsRow


class ScorePublic(BaseModel):
    home: int
    away: int


class FixturePublic(BaseModel):
    fixture_id: UUID
    sport: str
    competition: str
    season: str
    home: str
    away: str
    kickoff: datetime
    venue: str | None
    venue_country: str | None
    """The country the fixture is played in, as the feed named it (null when it named none)."""
    status: str
    started_at: datetime | None
    score: ScorePublic
    minute: int | None
    stoppage: int | None
    period: int | None
    result: ScorePublic | None
    called_off_reason: str | None


class OddsPublic(BaseModel):
    market: str
    source: str
    quoted_at: datetime
    stage: str | None
    price_format: str
    prices: dict[str, str]
    """As the source sent them."""
    decimal_prices: dict[str, float]
    probabilities: dict[str, float]
    """Margin-free, by ``margin_method``."""
    overround: float
    margin_method: str
    position: int
    """The quote's position in the event log."""


class ForecastPublic(BaseModel):
    model_kind: str
    model_id: str
    artifact_hash: str
    market: str
    issued_at: datetime
    kickoff: datetime
    trigger: str
    probabilities: dict[str, float]
    market_probabilities: dict[str, float]
    edge: dict[str, float]
    position: int
    """The forecast's position in the forecasts stream (the SSE id of the same forecast)."""
    as_of_position: int
    """Its input: the feed log up to this position (replay it to reproduce the forecast)."""


class IssuedForecastPublic(ForecastPublic):
    features: dict[str, float] | None
    """The feature vector the model was given, as the forecast's event recorded it (null for
    forecasts projected before the read model kept it, until its projection is rebuilt)."""


def fixture_public(row: FixtureRow) -> FixturePublic:
    result = (
        ScorePublic(home=row.result_home, away=row.result_away)
        if row.result_home is not None and row.result_away is not None
        else None
    )
    return FixturePublic(
        fixture_id=row.fixture_id,
        sport=row.sport,
        competition=row.competition,
        season=row.season,
        home=row.home,
        away=row.away,
        kickoff=row.kickoff,
        venue=row.venue,
        venue_country=row.venue_country,
        status=row.status,
        started_at=row.started_at,
        score=ScorePublic(home=row.home_score, away=row.away_score),
        minute=row.minute,
        stoppage=row.stoppage,
        period=row.period,
        result=result,
        called_off_reason=row.called_off_reason,
    )


def outcomes_of(market: str, count: int) -> list[str]:
    """The outcome names of a market's prices, in their stored order."""
    try:
        names = [o.value for o in Market(market).outcomes]
    except ValueError:
        names = []
    return names if len(names) == count else [str(i) for i in range(count)]


def latest_odds_public(row: LatestOddsRow) -> OddsPublic:
    """A book's latest quote (books not quoted yet are left out before this)."""
    assert row.quoted_at is not None
    assert row.decimal_prices is not None
    assert row.raw_prices is not None
    assert row.probabilities is not None
    names = outcomes_of(row.market, len(row.decimal_prices))
    return OddsPublic(
        market=row.market,
        source=row.source,
        quoted_at=row.quoted_at,
        stage=row.stage,
        price_format=row.price_format or "",
        prices=dict(zip(names, row.raw_prices, strict=True)),
        decimal_prices=dict(zip(names, row.decimal_prices, strict=True)),
        probabilities=dict(zip(names, row.probabilities, strict=True)),
        overround=row.overround or 0.0,
        margin_method=row.margin_method or "",
        position=row.position,
    )


def quote_public(row: QuoteRow) -> OddsPublic:
    q = row.quote
    names = outcomes_of(row.market, len(q.decimal_prices))
    return OddsPublic(
        market=row.market,
        source=row.source,
        quoted_at=q.quoted_at,
        stage=q.stage,
        price_format=q.price_format,
        prices=dict(zip(names, q.raw_prices, strict=True)),
        decimal_prices=dict(zip(names, q.decimal_prices, strict=True)),
        probabilities=dict(zip(names, q.probabilities, strict=True)),
        overround=q.overround,
        margin_method=q.margin_method,
        position=q.position,
    )


def forecast_public(row: ForecastRow) -> ForecastPublic:
    return ForecastPublic(**forecast_fields(row))


def issued_forecast_public(row: IssuedForecastRow) -> IssuedForecastPublic:
    return IssuedForecastPublic(**forecast_fields(row), features=row.features)


def forecast_fields(row: ForecastRow) -> dict[str, Any]:
    return dict(
        model_kind=row.model_kind,
        model_id=row.model_id,
        artifact_hash=row.artifact_hash,
        market=row.market,
        issued_at=row.issued_at,
        kickoff=row.kickoff,
        trigger=row.trigger,
        probabilities=dict(zip(row.outcomes, row.probabilities, strict=True)),
        market_probabilities=dict(zip(row.outcomes, row.market_probabilities, strict=True)),
        edge=dict(zip(row.outcomes, row.edge, strict=True)),
        position=row.position,
        as_of_position=row.as_of_position,
    )
