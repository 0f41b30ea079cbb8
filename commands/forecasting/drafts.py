"""Forecasts drafted while events are processed, scored together, then issued in log order.

A draft captures what a forecast needs at its moment in the log (the feature row, the market,
the input events, the position); the model is applied once per group of drafts, because one
CatBoost call costs nearly as much for one row as for dozens. Issuing in draft order gives each
fixture's stream exactly the events (and triggers) that one-at-a-time processing would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.forecast import MARKET_FREE_PRIOR, MARKET_PRIOR, FixtureForecasts, Forecast
from domain.odds import Market, QuoteStage
from forecasting.football.features import FootballFeatures
from forecasting.football.market_free import ResultsFeatures
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
_FREE_NAMES = ResultsFeatures.names()
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

    @property
    def market_free_id(self) -> str | None:
        """None: no market-free model, so league fixtures nobody quotes get none of its
        forecasts (the Elo prior of an in-play model, if one is loaded)."""
        ...

    def predict_market_free(self, rows: Sequence[ResultsFeatures]) -> list[Probabilities3]:
        """(home, draw, away) from results alone, one per row."""
        ...


class InPlayForecastModel(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def artifact_hash(self) -> str: ...

    @property
    def draw_peak(self) -> float:
        """The market-free Elo prior's draw peak fitted with the model."""
        ...

    @property
    def elo_scale(self) -> float:
        """The market-free Elo prior's logit scale fitted with the peak."""
        ...

    @property
    def elo_prior(self) -> tuple[float, float]:
        """The market-free Elo prior it was trained on: (carry-over between editions, host
        advantage), one of `KEPT_PRIORS`."""
        ...

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

    @property
    def market_free_id(self) -> str | None:
        """None: no market-free model, so games nobody quotes get no forecast."""
        ...

    def predict_market_free(self, rows: Sequence[NbaFeatures]) -> list[float]:
        """The home side's win probability from results alone, one per row."""
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
    reissue: bool = False  # the last state again after a promotion, not an in-match event
    prior_kind: str = MARKET_PRIOR


@dataclass(frozen=True)
class KickOffDraft:
    """A football fixture nobody quoted, at kick-off: its pre-match forecast is the market-free
    Elo prior (what the in-play model will start from), under the in-play artifact that holds
    the prior's draw peak."""

    fixture_id: UUID
    kickoff: datetime
    probabilities: Probabilities3
    elo_expected: float
    draw_peak: float
    elo_scale: float
    model_id: str
    artifact_hash: str
    as_of_position: int
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class MarketFreeDraft:
    """A league fixture nobody quoted, at kick-off: its pre-match forecast is the football
    artifact's market-free model on the fixture's results-only row."""

    fixture_id: UUID
    kickoff: datetime
    results: ResultsFeatures
    as_of_position: int
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class NbaDraft:
    moment: NbaMoment
    reissue: bool  # a re-issue after a promotion, not a quote
    as_of_position: int

    @property
    def fixture_id(self) -> UUID:
        return self.moment.fixture_id


Draft = PreMatchDraft | InPlayDraft | NbaDraft | KickOffDraft | MarketFreeDraft
KICK_OFF = "kick-off"


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
        elif isinstance(draft, KickOffDraft):
            forecast = _kickoff(draft)
        elif isinstance(draft, MarketFreeDraft):
            assert model is not None
            forecast = _market_free(draft, probabilities, model)
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
    scored: dict[int, tuple[float, ...]] = {
        id(d): d.probabilities for d in drafts if isinstance(d, KickOffDraft)
    }
    if pre and model is not None:
        rows = [d.features for d in pre]
        scored.update(zip(map(id, pre), model.predict_many(rows), strict=True))
    free = [d for d in drafts if isinstance(d, MarketFreeDraft)]
    if free and model is not None and model.market_free_id is not None:
        results = [d.results for d in free]
        scored.update(zip(map(id, free), model.predict_market_free(results), strict=True))
    if live and inplay_model is not None:
        states = [d.state for d in live]
        scored.update(zip(map(id, live), inplay_model.predict_many(states), strict=True))
    if nba is not None:
        games = [d for d in drafts if isinstance(d, NbaDraft)]
        pregame = [(d, m) for d in games if isinstance(m := d.moment, NbaPreGame)]
        quoted = [(d, m) for d, m in pregame if m.market is not None]
        unquoted = [(d, m) for d, m in pregame if m.market is None]
        quarters = [(d, m) for d in games if isinstance(m := d.moment, NbaQuarterEnd)]
        if quoted:
            homes = nba.predict_pregame([m.features for _, m in quoted])
            scored.update((id(d), (h, 1.0 - h)) for (d, _), h in zip(quoted, homes, strict=True))
        if unquoted and nba.market_free_id is not None:
            homes = nba.predict_market_free([m.features for _, m in unquoted])
            scored.update((id(d), (h, 1.0 - h)) for (d, _), h in zip(unquoted, homes, strict=True))
        if quarters:
            homes = nba.predict_inplay([m.state for _, m in quarters])
            scored.update((id(d), (h, 1.0 - h)) for (d, _), h in zip(quarters, homes, strict=True))
    return scored


def nba_draft(
    moment: NbaMoment, nba: NbaForecastModels, *, reissue: bool, as_of_position: int
) -> NbaDraft | None:
    """The draft of an NBA moment. A game nobody quoted needs the market-free model: its
    pre-game forecast is that model's, and its quarter ends start from that forecast (put into
    the state here, so the recorded features are what the in-play model read). None when the
    artifact has no market-free model and the game no quote."""
    if moment.market is None and nba.market_free_id is None:
        return None
    if isinstance(moment, NbaQuarterEnd) and moment.pregame is not None:
        (home,) = nba.predict_market_free([moment.pregame])
        moment = replace(moment, state=replace(moment.state, pregame_home=home))
    return NbaDraft(moment, reissue=reissue, as_of_position=as_of_position)


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
    if isinstance(draft, KickOffDraft):
        return {
            "elo_expected_score": draft.elo_expected,
            "draw_peak": draft.draw_peak,
            "elo_scale": draft.elo_scale,
        }
    if isinstance(draft, MarketFreeDraft):
        return dict(zip(_FREE_NAMES, draft.results.as_row(), strict=True))
    moment = draft.moment
    if isinstance(moment, NbaPreGame):
        # Without a quote the market's columns are NaN: left out (JSON has no NaN).
        row = zip(_NBA_NAMES, moment.features.as_row(), strict=True)
        return {name: value for name, value in row if not math.isnan(value)}
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
        # The pre-match market: the in-play model's prior (in-play odds are not followed); a
        # market-free prior is in the features (prior_*), and there is no market.
        market_probabilities=draft.state.prior if draft.prior_kind == MARKET_PRIOR else (),
        features=recorded_features(draft),
        as_of_position=draft.as_of_position,
        input_notification_ids=draft.inputs,
        prior=draft.prior_kind,
    )


def _kickoff(draft: KickOffDraft) -> Forecast:
    return _market_free_kickoff(draft, draft.probabilities, draft.model_id, draft.artifact_hash)


def _market_free(
    draft: MarketFreeDraft, probabilities: tuple[float, ...], model: ForecastModel
) -> Forecast:
    assert model.market_free_id is not None
    return _market_free_kickoff(draft, probabilities, model.market_free_id, model.artifact_hash)


def _market_free_kickoff(
    draft: KickOffDraft | MarketFreeDraft,
    probabilities: tuple[float, ...],
    model_id: str,
    artifact_hash: str,
) -> Forecast:
    """A pre-match forecast at kick-off of a fixture nobody quoted: no market, no edge."""
    return Forecast(
        kickoff=draft.kickoff,
        trigger=KICK_OFF,
        model_id=model_id,
        artifact_hash=artifact_hash,
        market=_MARKET,
        outcomes=_OUTCOMES,
        probabilities=tuple(float(p) for p in probabilities),
        market_probabilities=(),
        features=recorded_features(draft),
        as_of_position=draft.as_of_position,
        input_notification_ids=draft.inputs,
        prior=MARKET_FREE_PRIOR,
    )


def _nba(
    draft: NbaDraft,
    issued_before: int,
    probabilities: tuple[float, ...],
    nba: NbaForecastModels,
) -> Forecast:
    moment = draft.moment
    prior = MARKET_PRIOR if moment.market is not None else MARKET_FREE_PRIOR
    if isinstance(moment, NbaPreGame):
        if moment.market is None:
            trigger = MODEL_PROMOTED if draft.reissue else KICK_OFF
            model_id = nba.market_free_id or nba.pregame_id
        else:
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
        market_probabilities=() if moment.market is None else moment.market,
        features=recorded_features(draft),
        as_of_position=draft.as_of_position,
        input_notification_ids=moment.inputs,
        prior=prior,
    )


def _trigger(reissue: bool, stage: QuoteStage | None, issued_before: int) -> str:
    if reissue:
        return MODEL_PROMOTED
    if stage == QuoteStage.CLOSING:
        return "odds-closing"
    return "odds-opened" if issued_before == 0 else "odds-moved"
