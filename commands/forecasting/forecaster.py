"""The forecaster: an exactly-once process that follows the feed and issues forecasts.

It learns from every feed event it follows (ratings, form, market history: all from events) and
issues a ForecastIssued event whenever a 1X2 quote arrives for an upcoming football fixture
(the opening quote, every later move, the closing quote). Its events and its tracking position
are stored in one atomic save, so a crash between the two is impossible; on restart the runner
replays the feed up to the tracked position through :meth:`learn` (issuing nothing) and carries
on, which gives exactly the forecasts an uninterrupted run would have given.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import JSONTranscoder, Tracking
from eventsourcing.projection import EventSourcedProjection

from commands.forecasting.features import FeatureBuilder, FootballFeatures, ForecastingInputError
from commands.forecasting.from_events import InputTranslator, Quote
from commands.forecasting.inputs import OddsOpened
from commands.transcodings import register_domain_transcodings
from domain.forecast import FixtureForecasts, forecasts_id
from domain.odds import Market, QuoteStage


class ForecastModel(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def artifact_hash(self) -> str: ...

    def predict(self, features: FootballFeatures) -> tuple[float, float, float]:
        """Calibrated (home, draw, away) probabilities summing to 1."""
        ...


@dataclass
class _FixtureInputs:
    notification_ids: list[int]


class Forecaster(EventSourcedProjection[UUID]):
    name = "forecaster"

    def __init__(self, env: Any = None, *, model: ForecastModel | None = None) -> None:
        super().__init__(env)
        self.model = model
        self.translator = InputTranslator()
        self.builder = FeatureBuilder(strict=False)
        self._inputs: dict[UUID, _FixtureInputs] = {}
        self._model_lock = threading.Lock()
        # This process is the only writer of its forecast streams, so what it saved is current.
        self._forecast_streams: dict[UUID, FixtureForecasts] = {}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def use_model(self, model: ForecastModel) -> None:
        """Switch models between two events: no pause, no event processed half by each."""
        with self._model_lock:
            self.model = model

    def learn(self, domain_event: object, notification_id: int) -> Quote | None:
        """Apply a followed event to the forecasting state; return the 1X2 quote it carries."""
        quote = self.translator.quote(domain_event)
        translated = self.translator.translate(domain_event)
        if translated is not None:
            try:
                self.builder.apply(translated)
            except ForecastingInputError:
                return None  # e.g. an impossible opening book: nothing to learn from it
            fixture_id = UUID(translated.fixture_id)
            inputs = self._inputs.setdefault(fixture_id, _FixtureInputs([]))
            if isinstance(translated, OddsOpened) or len(inputs.notification_ids) == 0:
                inputs.notification_ids.append(notification_id)
        return quote

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        try:
            super().process_event(domain_event, tracking)
        except BaseException:
            self._forecast_streams.clear()  # a failed save may have left pending events behind
            raise

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        tracking = processing_event.tracking
        assert tracking is not None
        quote = self.learn(domain_event, tracking.notification_id)
        if quote is None:
            return
        with self._model_lock:
            model = self.model
        if model is None:
            return
        forecast = self._forecast(quote, model, tracking)
        if forecast is not None:
            processing_event.collect_events(forecast)

    def _forecast(
        self, quote: Quote, model: ForecastModel, tracking: Tracking
    ) -> FixtureForecasts | None:
        announced = self.translator.fixture(quote.fixture_id)
        if announced is None or quote.quoted_at >= announced.kickoff:
            return None  # in-play quotes need the in-play model (not built yet)
        try:
            features = self.builder.features(str(quote.fixture_id))
        except ForecastingInputError:
            return None  # no opening odds yet, or already kicked off
        probabilities = model.predict(features)
        inputs = self._inputs.get(quote.fixture_id, _FixtureInputs([]))
        ids = tuple(dict.fromkeys([*inputs.notification_ids, tracking.notification_id]))
        forecasts = self._forecasts(quote.fixture_id)
        forecasts.issue(
            kickoff=announced.kickoff,
            trigger=_trigger(quote, forecasts.issued),
            model_id=model.model_id,
            artifact_hash=model.artifact_hash,
            market=str(Market.MATCH_RESULT),
            outcomes=tuple(str(o) for o in Market.MATCH_RESULT.outcomes),
            probabilities=tuple(float(p) for p in probabilities),
            market_probabilities=quote.probabilities,
            features=dict(zip(FootballFeatures.names(), features.as_row(), strict=True)),
            as_of_position=tracking.notification_id,
            input_notification_ids=ids,
        )
        return forecasts

    def _forecasts(self, fixture_id: UUID) -> FixtureForecasts:
        cached = self._forecast_streams.get(fixture_id)
        if cached is not None:
            return cached
        try:
            found: object = self.repository.get(forecasts_id(fixture_id))
        except AggregateNotFoundError:
            found = FixtureForecasts(fixture_id=fixture_id)
        assert isinstance(found, FixtureForecasts)
        self._forecast_streams[fixture_id] = found
        return found


def _trigger(quote: Quote, issued_before: int) -> str:
    if quote.stage == QuoteStage.CLOSING:
        return "odds-closing"
    return "odds-opened" if issued_before == 0 else "odds-moved"
