"""Forecasts drafted while events are processed, scored together, then issued in log order.

A draft captures what a forecast needs at its moment in the log (the feature row, the market,
the input events, the position); the model is applied once per group of drafts, because one
CatBoost call costs nearly as much for one row as for dozens. Issuing in draft order gives each
fixture's stream exactly the events (and triggers) that one-at-a-time processing would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from commands.forecasting.features import FootballFeatures
from commands.forecasting.inplay import FEATURE_NAMES, MatchState, feature_matrix
from domain.forecast import FixtureForecasts, Forecast
from domain.odds import Market, QuoteStage

Probabilities3 = tuple[float, float, float]
MODEL_PROMOTED = "model-promoted"
IN_MATCH_EVENT = "in-match-event"
_MARKET = str(Market.MATCH_RESULT)
_OUTCOMES = tuple(str(o) for o in Market.MATCH_RESULT.outcomes)
_NAMES = FootballFeatures.names()


class ForecastModel(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def artifact_hash(self) -> str: ...

    def predict_many(self, rows: Sequence[FootballFeatures]) -> list[Probabilities3]:
        """Calibrated (home, draw, away) probabilities summing to 1, one per row."""
        ...


class InPlayForecastModel(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def artifact_hash(self) -> str: ...

    def predict_many(self, states: Sequence[MatchState]) -> list[Probabilities3]:
        """Calibrated (home, draw, away) at the end of regulation, one per state."""
        ...


@dataclass(frozen=True)
class PreMatchDraft:
    fixture_id: UUID
    kickoff: datetime
    features: FootballFeatures
    market: Probabilities3
    stage: QuoteStage | None
    reissue: bool  # a re-issue after a promotion, not a quote
    as_of_position: int
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class InPlayDraft:
    fixture_id: UUID
    kickoff: datetime
    state: MatchState
    as_of_position: int
    inputs: tuple[int, ...]


Draft = PreMatchDraft | InPlayDraft


def issue_drafts(
    drafts: Sequence[Draft],
    model: ForecastModel | None,
    inplay_model: InPlayForecastModel | None,
    streams: StreamSource,
) -> list[FixtureForecasts]:
    """Score the drafts (one model call per kind) and issue them in order; returns each
    touched stream once, in order of first touch. A draft with no model is dropped."""
    pre = [d for d in drafts if isinstance(d, PreMatchDraft)]
    live = [d for d in drafts if isinstance(d, InPlayDraft)]
    scored: dict[int, Probabilities3] = {}
    if pre and model is not None:
        rows = [d.features for d in pre]
        scored.update(zip(map(id, pre), model.predict_many(rows), strict=True))
    if live and inplay_model is not None:
        states = [d.state for d in live]
        scored.update(zip(map(id, live), inplay_model.predict_many(states), strict=True))
    touched: dict[UUID, FixtureForecasts] = {}
    for draft in drafts:
        probabilities = scored.get(id(draft))
        if probabilities is None:
            continue
        forecasts = streams.forecasts(draft.fixture_id)
        issued_before = 0 if forecasts is None else forecasts.issued
        if isinstance(draft, PreMatchDraft):
            assert model is not None
            forecast = _prematch(draft, issued_before, probabilities, model)
        else:
            assert inplay_model is not None
            forecast = _inplay(draft, probabilities, inplay_model)
        if forecasts is None:
            forecasts = FixtureForecasts.first(draft.fixture_id, forecast)
            streams.opened(forecasts)
        else:
            forecasts.issue(forecast)
        touched.setdefault(draft.fixture_id, forecasts)
    return list(touched.values())


class StreamSource(Protocol):
    def forecasts(self, fixture_id: UUID) -> FixtureForecasts | None:
        """The fixture's forecast stream, or None if it has no forecast yet."""
        ...

    def opened(self, forecasts: FixtureForecasts) -> None:
        """A stream opened by its first forecast (pending until saved)."""
        ...


def _prematch(
    draft: PreMatchDraft,
    issued_before: int,
    probabilities: Probabilities3,
    model: ForecastModel,
) -> Forecast:
    return Forecast(
        kickoff=draft.kickoff,
        trigger=_trigger(draft, issued_before),
        model_id=model.model_id,
        artifact_hash=model.artifact_hash,
        market=_MARKET,
        outcomes=_OUTCOMES,
        probabilities=tuple(float(p) for p in probabilities),
        market_probabilities=draft.market,
        features=dict(zip(_NAMES, draft.features.as_row(), strict=True)),
        as_of_position=draft.as_of_position,
        input_notification_ids=draft.inputs,
    )


def _inplay(
    draft: InPlayDraft,
    probabilities: Probabilities3,
    model: InPlayForecastModel,
) -> Forecast:
    row = feature_matrix([draft.state])[0]
    return Forecast(
        kickoff=draft.kickoff,
        trigger=IN_MATCH_EVENT,
        model_id=model.model_id,
        artifact_hash=model.artifact_hash,
        market=_MARKET,
        outcomes=_OUTCOMES,
        probabilities=tuple(float(p) for p in probabilities),
        # The pre-match market: the in-play model's prior (in-play odds are not followed).
        market_probabilities=draft.state.prior,
        features=dict(zip(FEATURE_NAMES, (float(v) for v in row), strict=True)),
        as_of_position=draft.as_of_position,
        input_notification_ids=draft.inputs,
    )


def _trigger(draft: PreMatchDraft, issued_before: int) -> str:
    if draft.reissue:
        return MODEL_PROMOTED
    if draft.stage == QuoteStage.CLOSING:
        return "odds-closing"
    return "odds-opened" if issued_before == 0 else "odds-moved"
