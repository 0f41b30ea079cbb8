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

from domain.forecast import FixtureForecasts, Forecast
from domain.odds import Market, QuoteStage
from forecasting.football.features import FootballFeatures
from forecasting.inplay.model import FEATURE_NAMES, MatchState, feature_matrix
from forecasting.nba.features import NbaFeatures
from forecasting.nba.inplay import NbaQuarterState
from forecasting.nba.live import NbaMoment, NbaPreGame, NbaQuarterEnd

Probabilities3 = tuple[float, float, float]
MODEL_PROMOTED = "model-promoted"
IN_MATCH_EVENT = "in-match-event"
_MARKET = str(Market.MATCH_RESULT)
_OUTCOMES = tuple(str(o) for o in Market.MATCH_RESULT.outcomes)
_NAMES = FootballFeatures.names()
_NBA_MARKET = str(Market.MONEYLINE)
_NBA_OUTCOMES = tuple(str(o) for o in Market.MONEYLINE.outcomes)
_NBA_NAMES = NbaFeatures.names()


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


class NbaForecastModels(Protocol):
    """The NBA pre-game and in-play models, from one artifact."""

    @property
    def artifact_hash(self) -> str: ...

    @property
    def pregame_id(self) -> str: ...

    @property
    def inplay_id(self) -> str: ...

    def predict_pregame(self, rows: Sequence[NbaFeatures]) -> list[float]:
        """The home side's win probability, one per row."""
        ...

    def predict_inplay(self, states: Sequence[NbaQuarterState]) -> list[float]: ...


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
    reissue: bool = False  # the last state again after a promotion, not an in-match event


@dataclass(frozen=True)
class NbaDraft:
    moment: NbaMoment
    reissue: bool  # a re-issue after a promotion, not a quote
    as_of_position: int

    @property
    def fixture_id(self) -> UUID:
        return self.moment.fixture_id


Draft = PreMatchDraft | InPlayDraft | NbaDraft


def issue_drafts(
    drafts: Sequence[Draft],
    model: ForecastModel | None,
    inplay_model: InPlayForecastModel | None,
    streams: StreamSource,
    nba: NbaForecastModels | None = None,
) -> list[FixtureForecasts]:
    """Score the drafts (one model call per kind) and issue them in order; returns each
    touched stream once, in order of first touch. A draft with no model is dropped."""
    scored = _scores(drafts, model, inplay_model, nba)
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
        elif isinstance(draft, InPlayDraft):
            assert inplay_model is not None
            forecast = _inplay(draft, probabilities, inplay_model)
        else:
            assert nba is not None
            forecast = _nba(draft, issued_before, probabilities, nba)
        if forecasts is None:
            forecasts = FixtureForecasts.first(draft.fixture_id, forecast)
            streams.opened(forecasts)
        else:
            forecasts.issue(forecast)
        touched.setdefault(draft.fixture_id, forecasts)
    return list(touched.values())


def _scores(
    drafts: Sequence[Draft],
    model: ForecastModel | None,
    inplay_model: InPlayForecastModel | None,
    nba: NbaForecastModels | None,
) -> dict[int, tuple[float, ...]]:
    """Each scorable draft's probabilities by id(draft): one model call per kind of draft."""
    pre = [d for d in drafts if isinstance(d, PreMatchDraft)]
    live = [d for d in drafts if isinstance(d, InPlayDraft)]
    scored: dict[int, tuple[float, ...]] = {}
    if pre and model is not None:
        rows = [d.features for d in pre]
        scored.update(zip(map(id, pre), model.predict_many(rows), strict=True))
    if live and inplay_model is not None:
        states = [d.state for d in live]
        scored.update(zip(map(id, live), inplay_model.predict_many(states), strict=True))
    if nba is not None:
        games = [d for d in drafts if isinstance(d, NbaDraft)]
        pregame = [(d, m) for d in games if isinstance(m := d.moment, NbaPreGame)]
        quarters = [(d, m) for d in games if isinstance(m := d.moment, NbaQuarterEnd)]
        if pregame:
            homes = nba.predict_pregame([m.features for _, m in pregame])
            scored.update((id(d), (h, 1.0 - h)) for (d, _), h in zip(pregame, homes, strict=True))
        if quarters:
            homes = nba.predict_inplay([m.state for _, m in quarters])
            scored.update((id(d), (h, 1.0 - h)) for (d, _), h in zip(quarters, homes, strict=True))
    return scored


class StreamSource(Protocol):
    def forecasts(self, fixture_id: UUID) -> FixtureForecasts | None:
        """The fixture's forecast stream, or None if it has no forecast yet."""
        ...

    def opened(self, forecasts: FixtureForecasts) -> None:
        """A stream opened by its first forecast (pending until saved)."""
        ...


def recorded_features(draft: Draft) -> dict[str, float]:
    """The feature vector a forecast made from ``draft`` records (what the audit rebuilds)."""
    if isinstance(draft, PreMatchDraft):
        return dict(zip(_NAMES, draft.features.as_row(), strict=True))
    if isinstance(draft, InPlayDraft):
        row = feature_matrix([draft.state])[0]
        return dict(zip(FEATURE_NAMES, (float(v) for v in row), strict=True))
    moment = draft.moment
    if isinstance(moment, NbaPreGame):
        return dict(zip(_NBA_NAMES, moment.features.as_row(), strict=True))
    state = moment.state
    return {
        "quarter": float(state.quarter),
        "home_lead": float(state.home_lead),
        "pregame_home": state.pregame_home,
    }


def _prematch(
    draft: PreMatchDraft,
    issued_before: int,
    probabilities: tuple[float, ...],
    model: ForecastModel,
) -> Forecast:
    return Forecast(
        kickoff=draft.kickoff,
        trigger=_trigger(draft.reissue, draft.stage, issued_before),
        model_id=model.model_id,
        artifact_hash=model.artifact_hash,
        market=_MARKET,
        outcomes=_OUTCOMES,
        probabilities=tuple(float(p) for p in probabilities),
        market_probabilities=draft.market,
        features=recorded_features(draft),
        as_of_position=draft.as_of_position,
        input_notification_ids=draft.inputs,
    )


def _inplay(
    draft: InPlayDraft,
    probabilities: tuple[float, ...],
    model: InPlayForecastModel,
) -> Forecast:
    return Forecast(
        kickoff=draft.kickoff,
        trigger=MODEL_PROMOTED if draft.reissue else IN_MATCH_EVENT,
        model_id=model.model_id,
        artifact_hash=model.artifact_hash,
        market=_MARKET,
        outcomes=_OUTCOMES,
        probabilities=tuple(float(p) for p in probabilities),
        # The pre-match market: the in-play model's prior (in-play odds are not followed).
        market_probabilities=draft.state.prior,
        features=recorded_features(draft),
        as_of_position=draft.as_of_position,
        input_notification_ids=draft.inputs,
    )


def _nba(
    draft: NbaDraft,
    issued_before: int,
    probabilities: tuple[float, ...],
    nba: NbaForecastModels,
) -> Forecast:
    moment = draft.moment
    if isinstance(moment, NbaPreGame):
        trigger = _trigger(draft.reissue, moment.stage, issued_before)
        model_id = nba.pregame_id
    else:
        trigger = MODEL_PROMOTED if draft.reissue else IN_MATCH_EVENT
        model_id = nba.inplay_id
    return Forecast(
        kickoff=moment.kickoff,
        trigger=trigger,
        model_id=model_id,
        artifact_hash=nba.artifact_hash,
        market=_NBA_MARKET,
        outcomes=_NBA_OUTCOMES,
        probabilities=tuple(float(p) for p in probabilities),
        market_probabilities=moment.market,
        features=recorded_features(draft),
        as_of_position=draft.as_of_position,
        input_notification_ids=moment.inputs,
    )


def _trigger(reissue: bool, stage: QuoteStage | None, issued_before: int) -> str:
    if reissue:
        return MODEL_PROMOTED
    if stage == QuoteStage.CLOSING:
        return "odds-closing"
    return "odds-opened" if issued_before == 0 else "odds-moved"
