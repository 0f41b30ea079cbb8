"""Rows of the analytics tables, one function per kind of row (pure: no I/O, no state).

Times are epoch milliseconds, as in the Pinot schemas. Ids are stable across rebuilds: a
forecast is ``<forecast stream id>:<version>``, a quote ``<odds book id>:<version>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.odds.market import Market
from domain.scoring import calibration_bucket, score_probabilities
from projections.forecasts import model_kind
from projections.scoring import track_of
from readmodels.analytics.batch import BookFacts, FixtureFacts, Row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


@dataclass(frozen=True, slots=True)
class IssuedForecast:
    """A forecast as the analytics tables need it, kept until its fixture has a result."""

    forecast_id: str
    fixture_id: str
    notification_id: int
    market: str
    model_id: str
    model_kind: str
    model_version: str
    trigger: str
    issued_at: int
    kickoff_at: int
    outcomes: tuple[str, ...]
    probabilities: tuple[float, ...]
    market_probabilities: tuple[float, ...]

    @classmethod
    def of(cls, event: Any, notification_id: int) -> IssuedForecast:
        """From a ``FixtureForecasts.ForecastIssued`` event."""
        return cls(
            forecast_id=f"{event.originator_id}:{event.originator_version}",
            fixture_id=str(event.fixture_id),
            notification_id=notification_id,
            market=str(event.market),
            model_id=str(event.model_id),
            model_kind=model_kind(str(event.model_id), str(event.market), dict(event.features)),
            model_version=str(event.artifact_hash),
            trigger=str(event.trigger),
            issued_at=epoch_ms(event.timestamp),
            kickoff_at=epoch_ms(event.kickoff),
            outcomes=tuple(str(o) for o in event.outcomes),
            probabilities=tuple(float(p) for p in event.probabilities),
            market_probabilities=tuple(float(p) for p in event.market_probabilities),
        )

    @classmethod
    def from_rows(cls, rows: Sequence[Row]) -> IssuedForecast:
        """Back from its stored ``forecasts`` rows (one per outcome), in the market's order."""
        first = rows[0]
        order = {str(o): i for i, o in enumerate(Market(first["market"]).outcomes)}
        ordered = sorted(rows, key=lambda row: order[row["outcome"]])
        return cls(
            forecast_id=first["forecast_id"],
            fixture_id=first["fixture_id"],
            notification_id=first["notification_id"],
            market=first["market"],
            model_id=first["model_id"],
            model_kind=first["model_kind"],
            model_version=first["model_version"],
            trigger=first["trigger"],
            issued_at=first["issued_at"],
            kickoff_at=first["kickoff_at"],
            outcomes=tuple(row["outcome"] for row in ordered),
            probabilities=tuple(row["model_probability"] for row in ordered),
            market_probabilities=tuple(
                row["market_probability"]
                for row in ordered
                if row["market_probability"] is not None
            ),
        )


def _market(forecast: IssuedForecast) -> tuple[float | None, ...]:
    """The market's probability per outcome; None each for a market-free forecast issued
    without a market (its market columns are NULL, as Pinot's null handling keeps them)."""
    return forecast.market_probabilities or (None,) * len(forecast.outcomes)


def forecast_rows(forecast: IssuedForecast, fixture: FixtureFacts) -> list[Row]:
    """One ``forecasts`` row per outcome (``forecasts_latest`` rows are the same rows)."""
    return [
        {
            "forecast_id": forecast.forecast_id,
            "fixture_id": forecast.fixture_id,
            "sport": fixture.sport,
            "competition": fixture.competition,
            "season": fixture.season,
            "market": forecast.market,
            "model_id": forecast.model_id,
            "model_kind": forecast.model_kind,
            "model_version": forecast.model_version,
            "outcome": outcome,
            "trigger": forecast.trigger,
            "notification_id": forecast.notification_id,
            "model_probability": model,
            "market_probability": market,
            "edge": None if market is None else model - market,
            "issued_at": forecast.issued_at,
            "kickoff_at": forecast.kickoff_at,
        }
        for outcome, model, market in zip(
            forecast.outcomes, forecast.probabilities, _market(forecast), strict=True
        )
    ]


def quote_rows(event: Any, book: BookFacts, fixture: FixtureFacts) -> list[Row]:
    """One ``odds_quotes`` row per outcome of an ``OddsBook.OddsQuoted`` event."""
    quote_id = f"{event.originator_id}:{event.originator_version}"
    outcomes = Market(book.market).outcomes
    quoted_at = epoch_ms(event.quoted_at)
    overround = float(event.overround)
    method = str(event.margin_method)
    return [
        {
            "quote_id": quote_id,
            "fixture_id": book.fixture_id,
            "sport": fixture.sport,
            "competition": fixture.competition,
            "source": book.source,
            "market": book.market,
            "outcome": str(outcome),
            "margin_method": method,
            "decimal_price": float(price),
            "implied_probability": float(probability),
            "overround": overround,
            "quoted_at": quoted_at,
        }
        for outcome, price, probability in zip(
            outcomes, event.decimal_prices, event.probabilities, strict=True
        )
    ]


def settlement_rows(
    forecast: IssuedForecast, fixture: FixtureFacts, observed: str
) -> tuple[Row, list[Row]]:
    """The ``settlements`` row (the forecast's scores and the market's) and one
    ``settled_outcomes`` row per outcome (for calibration)."""
    model = score_probabilities(forecast.outcomes, forecast.probabilities, observed)
    market = (
        score_probabilities(forecast.outcomes, forecast.market_probabilities, observed)
        if forecast.market_probabilities
        else None
    )
    common = {
        "forecast_id": forecast.forecast_id,
        "fixture_id": forecast.fixture_id,
        "sport": fixture.sport,
        "competition": fixture.competition,
        "season": fixture.season,
        "market": forecast.market,
        "model_id": forecast.model_id,
        "model_kind": forecast.model_kind,
        "trigger": forecast.trigger,
        "track": track_of(forecast.trigger),
        "result_position": fixture.result_position,
        "kickoff_at": forecast.kickoff_at,
    }
    settlement = {
        **common,
        "model_version": forecast.model_version,
        "observed": observed,
        "rps": model.rps,
        "log_loss": model.log_loss,
        "brier": model.brier,
        "market_rps": None if market is None else market.rps,
        "market_log_loss": None if market is None else market.log_loss,
        "market_brier": None if market is None else market.brier,
        "issued_at": forecast.issued_at,
    }
    outcomes = [
        {
            **common,
            "outcome": outcome,
            "model_probability": p,
            "market_probability": q,
            "observed": int(outcome == observed),
            "model_bucket": calibration_bucket(p),
            "market_bucket": None if q is None else calibration_bucket(q),
        }
        for outcome, p, q in zip(
            forecast.outcomes, forecast.probabilities, _market(forecast), strict=True
        )
    ]
    return settlement, outcomes
