"""Issued forecasts: one stream per fixture, one ForecastIssued event per forecast.

Each event is a complete audit record: which model (id and artifact hash), the exact feature
vector, the position of the event log it was computed as of (replaying the log to that position
rebuilds the same features), the fixture's own input events, the market it was compared with,
the edge per outcome, and what triggered it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

# Fixed forever: changing it changes every forecast stream's id.
FORECASTS_NAMESPACE = UUID("0f6c2b51-3f7e-5d4e-9b8a-7f2a1c9e4d30")


def forecasts_id(fixture_id: UUID) -> UUID:
    return uuid5(FORECASTS_NAMESPACE, str(fixture_id))


class FixtureForecasts(Aggregate):
    class Opened(Aggregate.Created):
        fixture_id: UUID

    class ForecastIssued(Aggregate.Event):
        fixture_id: UUID
        kickoff: datetime
        trigger: str
        model_id: str
        artifact_hash: str
        market: str
        outcomes: tuple[str, ...]
        probabilities: tuple[float, ...]
        market_probabilities: tuple[float, ...]
        edge: tuple[float, ...]
        """Model minus market, per outcome."""
        features: dict[str, float]
        as_of_position: int
        """The notification id of the triggering event: the log up to it is the whole input."""
        input_notification_ids: tuple[int, ...]
        """The fixture's own input events (announcement, opening odds, the trigger)."""

    @staticmethod
    def create_id(fixture_id: UUID) -> UUID:
        return forecasts_id(fixture_id)

    @event(Opened)
    def __init__(self, *, fixture_id: UUID) -> None:
        self.fixture_id = fixture_id
        self.issued = 0
        self.latest: tuple[float, ...] | None = None
        self.latest_trigger: str | None = None
        self.latest_model_id: str | None = None

    def issue(
        self,
        *,
        kickoff: datetime,
        trigger: str,
        model_id: str,
        artifact_hash: str,
        market: str,
        outcomes: tuple[str, ...],
        probabilities: tuple[float, ...],
        market_probabilities: tuple[float, ...],
        features: dict[str, float],
        as_of_position: int,
        input_notification_ids: tuple[int, ...],
    ) -> None:
        if len(probabilities) != len(outcomes) or len(market_probabilities) != len(outcomes):
            raise ValueError("one probability per outcome, for the model and for the market")
        edge = tuple(m - k for m, k in zip(probabilities, market_probabilities, strict=True))
        self._issued(
            fixture_id=self.fixture_id,
            kickoff=kickoff,
            trigger=trigger,
            model_id=model_id,
            artifact_hash=artifact_hash,
            market=market,
            outcomes=outcomes,
            probabilities=probabilities,
            market_probabilities=market_probabilities,
            edge=edge,
            features=features,
            as_of_position=as_of_position,
            input_notification_ids=input_notification_ids,
        )

    @event(ForecastIssued)
    def _issued(
        self,
        fixture_id: UUID,
        kickoff: datetime,
        trigger: str,
        model_id: str,
        artifact_hash: str,
        market: str,
        outcomes: tuple[str, ...],
        probabilities: tuple[float, ...],
        market_probabilities: tuple[float, ...],
        edge: tuple[float, ...],
        features: dict[str, float],
        as_of_position: int,
        input_notification_ids: tuple[int, ...],
    ) -> None:
        self.issued += 1
        self.latest = tuple(probabilities)
        self.latest_trigger = trigger
        self.latest_model_id = model_id
