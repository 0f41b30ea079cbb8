"""Issued forecasts: one stream per fixture, one ForecastIssued event per forecast.

Each event is a complete audit record: which model (id and artifact hash), the exact feature
vector, the position of the event log it was computed as of (replaying the log to that position
rebuilds the same features), the fixture's own input events, the market it was compared with,
the edge per outcome, what triggered it, and which prior it started from: the market's quote or,
when nobody quoted the fixture, the market-free model learnt from results (`prior`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

# Fixed forever: changing it changes every forecast stream's id.
FORECASTS_NAMESPACE = UUID("0f6c2b51-3f7e-5d4e-9b8a-7f2a1c9e4d30")


MARKET_PRIOR: Final = "market"
"""The forecast starts from a market quote (the quote itself, or a correction to it)."""
MARKET_FREE_PRIOR: Final = "market-free"
"""No quote: the forecast starts from the market-free model learnt from results only."""
PRIORS = (MARKET_PRIOR, MARKET_FREE_PRIOR)


def forecasts_id(fixture_id: UUID) -> UUID:
    return uuid5(FORECASTS_NAMESPACE, str(fixture_id))


class FixtureForecasts(Aggregate):
    """A fixture's forecasts. The first one opens the stream, so every forecast is one event
    (one message in the store) and a fixture's stream never holds an empty opening."""

    class Opened(Aggregate.Created):
        """How streams written before FirstForecastIssued existed begin (still readable)."""

        fixture_id: UUID

    class ForecastIssued(Aggregate.Event):
        class_version = 2
        fixture_id: UUID
        kickoff: datetime
        trigger: str
        model_id: str
        artifact_hash: str
        market: str
        outcomes: tuple[str, ...]
        probabilities: tuple[float, ...]
        market_probabilities: tuple[float, ...]
        """Empty when nobody quoted the fixture (a market-free forecast)."""
        edge: tuple[float, ...]
        """Model minus market, per outcome (empty without a market)."""
        features: dict[str, float]
        as_of_position: int
        """The notification id of the triggering event: the log up to it is the whole input."""
        input_notification_ids: tuple[int, ...]
        """The fixture's own input events (announcement, opening odds, the trigger)."""
        prior: str
        """`MARKET_PRIOR` or `MARKET_FREE_PRIOR`: what the forecast started from."""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Before market-free models, every forecast started from a market quote.
            state["prior"] = MARKET_PRIOR

        def apply(self, aggregate: FixtureForecasts) -> None:
            aggregate.issued += 1
            aggregate.latest = tuple(self.probabilities)
            aggregate.latest_trigger = self.trigger
            aggregate.latest_model_id = self.model_id

    class FirstForecastIssued(ForecastIssued, Aggregate.Created):
        """A fixture's first forecast, which also opens its stream."""

    @staticmethod
    def create_id(fixture_id: UUID) -> UUID:
        return forecasts_id(fixture_id)

    def __init__(self, *, fixture_id: UUID) -> None:
        # Run by either opening event before its own apply (eventsourcing's Created.mutate).
        self.fixture_id = fixture_id
        self.issued = 0
        self.latest: tuple[float, ...] | None = None
        self.latest_trigger: str | None = None
        self.latest_model_id: str | None = None

    @classmethod
    def first(cls, fixture_id: UUID, forecast: Forecast) -> FixtureForecasts:
        """Open the fixture's stream with its first forecast."""
        return cls._create(
            cls.FirstForecastIssued,
            id=forecasts_id(fixture_id),
            fixture_id=fixture_id,
            **forecast.recorded(),
        )

    def issue(self, forecast: Forecast) -> None:
        """Issue a further forecast."""
        self.trigger_event(self.ForecastIssued, fixture_id=self.fixture_id, **forecast.recorded())


@dataclass(frozen=True)
class Forecast:
    """What a forecast records, before it is an event."""

    kickoff: datetime
    trigger: str
    model_id: str
    artifact_hash: str
    market: str
    outcomes: tuple[str, ...]
    probabilities: tuple[float, ...]
    market_probabilities: tuple[float, ...]
    features: dict[str, float]
    as_of_position: int
    input_notification_ids: tuple[int, ...]
    prior: str = MARKET_PRIOR

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise ValueError(f"a forecast's prior is one of {PRIORS}, got {self.prior!r}")
        n = len(self.outcomes)
        if len(self.probabilities) != n:
            raise ValueError("one probability per outcome")
        market = len(self.market_probabilities)
        if self.prior == MARKET_PRIOR and market != n:
            raise ValueError("one market probability per outcome: the forecast started from it")
        if self.prior == MARKET_FREE_PRIOR and market not in (0, n):
            raise ValueError("a market-free forecast has no market or one probability per outcome")

    @property
    def edge(self) -> tuple[float, ...]:
        """Model minus market, per outcome (empty when there was no market)."""
        if not self.market_probabilities:
            return ()
        return tuple(
            m - k for m, k in zip(self.probabilities, self.market_probabilities, strict=True)
        )

    def recorded(self) -> dict[str, Any]:
        """The event's fields: these, and the edge."""
        return {**vars(self), "edge": self.edge}
