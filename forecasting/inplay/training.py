"""The in-play model's training set from the feed's domain events, and its training run.

The protocol of benchmarks/eval_inplay.py, fed by the event store instead of the CSVs:

- A finished football fixture's timeline is its GoalScored events (side credited, regulation
  minute label) and its sendings-off (CardShown red or second yellow); a minute past 90 is
  extra time, outside the 90-minute result the model forecasts.
- Its prior is the last 1X2 quote made before kick-off (margin-free), as the live forecaster
  takes it; a fixture without one gets an Elo prior from earlier results of the same competition
  (its name without the edition's year, so every World Cup feeds one pool).
- A competition whose feed records goals gives states at SAMPLED_MINUTES, from fixtures whose
  goal events account for the final score; any other competition gives the half-time state only
  (from the first half's PeriodEnded score, red cards unknown, as the CSV leagues).
- The latest HOLDOUT_SHARE of each prior kind's fixtures (by kick-off) sizes and calibrates,
  everything earlier trains, and the model is refitted on both (train_inplay_model).

`train` (what `sportcast model train-inplay` writes) therefore fits its model on the holdout as
well: its holdout log loss is in sample. The registry's run, `train_for_holdout`, keeps the same
holdout but never lets it in: the same recipe one window earlier (the latest HOLDOUT_SHARE of the
fixtures before the holdout sizes and calibrates, the rest fits, the refit takes both), so its
holdout score is out of sample.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import numpy as np

from domain.fixture import Fixture
from domain.in_match import CardKind
from domain.sport import Side
from forecasting.football.from_events import InputTranslator
from forecasting.inplay.model import (
    CARRY_OVER,
    HOST_ADVANTAGE,
    REGULATION,
    SAMPLED_MINUTES,
    EloPrior,
    InPlayModel,
    InPlayParameters,
    MatchState,
    TimelineEvent,
    baseline_proba,
    fit_elo_prior,
    one_x_two,
    pool_of,
    regulation_outcome,
    state_at,
    train_inplay_model,
)
from forecasting.metrics import Outcomes, expected_calibration_error, log_loss

PARAMETERS = InPlayParameters(thread_count=1)  # eval_inplay's recipe, fixed seed
HOLDOUT_SHARE = 0.2
HALF_TIME = 45
CALIBRATION_BINS = 10
_SENT_OFF = (CardKind.RED, CardKind.SECOND_YELLOW)


@dataclass
class PlayedMatch:
    """A finished football fixture as the feed told it."""

    fixture_id: UUID
    competition: str
    kickoff: datetime
    home: str
    away: str
    market_prior: tuple[float, float, float] | None
    timeline: list[TimelineEvent] = field(default_factory=list)
    half_time: tuple[int, int] | None = None
    final: tuple[int, int] | None = None
    season: str = ""
    elo_expected: float | None = None
    """The Elo prior's expected score at kick-off, from the results finished before it (as the
    live forecaster has them); None when not folded from the feed."""
    venue_country: str | None = None
    """Where it was played, if the feed said: a host nation plays at home (EloPrior)."""

    @property
    def goals_account_for_result(self) -> bool:
        goals = [e for e in self.timeline if e.kind == "goal"]
        return (
            self.final is not None
            and (
                sum(e.home for e in goals),
                sum(not e.home for e in goals),
            )
            == self.final
        )


class MatchTimelines:
    """Folds the feed's events, in log order, into finished football fixtures."""

    def __init__(self) -> None:
        self._translator = InputTranslator()
        self._last_quote: dict[UUID, tuple[float, float, float]] = {}
        self._matches: dict[UUID, PlayedMatch] = {}
        self._abandoned: set[UUID] = set()
        self._elo = EloPrior()
        self.competitions_with_goals: set[str] = set()

    def apply(self, event: object) -> None:
        quote = self._translator.quote(event)
        self._translator.translate(event)
        if quote is not None:
            announced = self._translator.fixture(quote.fixture_id)
            if announced is not None and quote.quoted_at < announced.kickoff:
                if _is_distribution(quote.probabilities):
                    self._last_quote[quote.fixture_id] = quote.probabilities
                else:  # nothing to start from, as the live forecaster finds it
                    self._last_quote.pop(quote.fixture_id, None)
            return
        if not isinstance(event, Fixture.Event):
            return
        fid = event.originator_id
        if isinstance(event, Fixture.Started):
            self._start(fid)
            return
        match = self._matches.get(fid)
        if match is None:
            return  # not football, or not started
        if isinstance(event, Fixture.GoalScored):
            match.timeline.append(_timeline_event("goal", event.minute, event.side))
            self.competitions_with_goals.add(match.competition)
        elif isinstance(event, Fixture.CardShown):
            if event.card in _SENT_OFF:
                match.timeline.append(_timeline_event("sending-off", event.minute, event.side))
        elif isinstance(event, Fixture.PeriodEnded):
            if event.period == 1:
                match.half_time = (event.score.home, event.score.away)
        elif isinstance(event, Fixture.Finished | Fixture.ResultCorrected):
            if isinstance(event, Fixture.Finished):
                self._elo.update(
                    match.competition,
                    match.home,
                    match.away,
                    event.score.home,
                    event.score.away,
                    match.venue_country,
                )
            match.final = (event.score.home, event.score.away)
        elif isinstance(event, Fixture.Abandoned):
            self._abandoned.add(fid)

    def _start(self, fid: UUID) -> None:
        announced = self._translator.fixture(fid)
        if announced is None:
            return
        self._matches[fid] = PlayedMatch(
            fixture_id=fid,
            competition=announced.competition,
            kickoff=announced.kickoff,
            home=announced.home,
            away=announced.away,
            market_prior=self._last_quote.get(fid),
            season=announced.season,
            elo_expected=self._elo.expected_score(
                announced.competition, announced.home, announced.away, announced.venue_country
            ),
            venue_country=announced.venue_country,
        )

    def finished(self) -> list[PlayedMatch]:
        """Finished, not abandoned, in kick-off order (ties by competition and teams)."""
        done = [
            m
            for m in self._matches.values()
            if m.final is not None and m.fixture_id not in self._abandoned
        ]
        return sorted(done, key=lambda m: (m.kickoff, m.competition, m.home, m.away))


def _timeline_event(kind: Literal["goal", "sending-off"], minute: int, side: Side) -> TimelineEvent:
    return TimelineEvent(
        kind=kind,
        minute=minute,
        home=side == Side.HOME,
        extra_time=minute > REGULATION,
    )


def _is_distribution(p: tuple[float, float, float]) -> bool:
    return min(p) > 0.0 and abs(sum(p) - 1.0) <= 1e-6


@dataclass(frozen=True)
class Sample:
    state: MatchState
    outcome: int
    holdout: bool
    market: bool  # the prior is a market quote (else Elo)
    fixture_id: UUID


@dataclass(frozen=True)
class TrainingSet:
    samples: list[Sample]
    matches: int
    skipped: int  # finished fixtures giving no state (no half-time score, goals missing)
    draw_peak: float
    played: list[PlayedMatch] = field(default_factory=list)
    """The fixtures the samples come from, in kick-off order."""
    elo_scale: float = 1.0
    """The Elo prior's logit scale, fitted with the draw peak on the same earlier matches."""


def training_set(
    matches: Sequence[PlayedMatch], competitions_with_goals: Iterable[str]
) -> TrainingSet:
    timelined = set(competitions_with_goals)
    usable: list[PlayedMatch] = []
    skipped = 0
    for m in matches:
        with_goals = m.competition in timelined
        if m.goals_account_for_result if with_goals else m.half_time is not None:
            usable.append(m)
        else:
            skipped += 1
    holdout = _holdout(usable)
    elo = EloPrior()
    expected: dict[UUID, float] = {}
    for m in matches:  # Elo sees a result only after the match's expected score is taken
        if m.final is None:
            continue
        if m.market_prior is None:
            # As of kick-off when folded from the feed (what the live forecaster has).
            expected[m.fixture_id] = (
                elo.expected_score(m.competition, m.home, m.away, m.venue_country)
                if m.elo_expected is None
                else m.elo_expected
            )
        elo.update(m.competition, m.home, m.away, *m.final, m.venue_country)
    earlier = [m for m in usable if m.market_prior is None and m.fixture_id not in holdout]
    peak, scale = EloPrior().draw_peak, 1.0
    if earlier:
        outcomes = np.array([_outcome(m, m.competition in timelined) for m in earlier])
        scale, peak = fit_elo_prior([expected[m.fixture_id] for m in earlier], outcomes)
    samples: list[Sample] = []
    for m in usable:
        with_goals = m.competition in timelined
        prior = m.market_prior or one_x_two(expected[m.fixture_id], peak, scale)
        outcome = _outcome(m, with_goals)
        if with_goals:
            states = [state_at(m.timeline, minute, prior) for minute in SAMPLED_MINUTES]
        else:
            assert m.half_time is not None
            states = [MatchState(HALF_TIME, *m.half_time, 0, 0, prior)]
        in_holdout = m.fixture_id in holdout
        market = m.market_prior is not None
        samples.extend(Sample(s, outcome, in_holdout, market, m.fixture_id) for s in states)
    return TrainingSet(samples, len(usable), skipped, peak, usable, scale)


def _outcome(m: PlayedMatch, with_goals: bool) -> int:
    if with_goals:
        return regulation_outcome(m.timeline)
    assert m.final is not None
    home, away = m.final
    return 0 if home > away else 1 if home == away else 2


def _holdout(usable: Sequence[PlayedMatch]) -> set[UUID]:
    """The latest HOLDOUT_SHARE of each prior kind's fixtures (usable is in kick-off order)."""
    chosen: set[UUID] = set()
    for market in (True, False):
        kind = [m for m in usable if (m.market_prior is not None) == market]
        size = round(len(kind) * HOLDOUT_SHARE)
        chosen.update(m.fixture_id for m in kind[len(kind) - size :] if size)
    return chosen


@dataclass(frozen=True)
class InPlayTraining:
    model: InPlayModel
    data: TrainingSet
    training_rows: int
    holdout_rows: int
    seconds: float
    holdout_log_loss: dict[str, float]  # model, poisson baseline, prior on the holdout rows


def train(data: TrainingSet, parameters: InPlayParameters = PARAMETERS) -> InPlayTraining:
    train_rows = [s for s in data.samples if not s.holdout]
    holdout_rows = [s for s in data.samples if s.holdout]
    if not train_rows or not holdout_rows:
        raise ValueError(
            f"too few finished football fixtures to train an in-play model "
            f"({data.matches} usable, {len(train_rows)} training and {len(holdout_rows)} "
            "holdout states)"
        )
    states = [s.state for s in holdout_rows]
    y = outcomes_of(holdout_rows)
    started = time.perf_counter()
    model = train_inplay_model(
        [s.state for s in train_rows], outcomes_of(train_rows), states, y, parameters
    )
    seconds = time.perf_counter() - started
    model = _with_prior_of(model, data)
    losses = {
        "model": log_loss(model.predict_proba(states), y),
        "poisson": log_loss(baseline_proba(states), y),
        "prior": log_loss(np.array([s.prior for s in states], dtype=np.float64), y),
    }
    return InPlayTraining(model, data, len(train_rows), len(holdout_rows), seconds, losses)


@dataclass(frozen=True)
class HoldoutRun:
    """The registry's in-play model and the rows it is judged on. ``fitted`` fitted it,
    ``validation`` (the latest HOLDOUT_SHARE of the fixtures before the holdout, per prior
    kind) chose its size and temperature, the refit took both; ``holdout`` took no part."""

    model: InPlayModel
    fitted: list[Sample]
    validation: list[Sample]
    holdout: list[Sample]


def train_for_holdout(data: TrainingSet, parameters: InPlayParameters = PARAMETERS) -> HoldoutRun:
    """`train`'s recipe moved one window earlier, so the holdout `train` reports on stays out
    of fitting, early stopping and calibration alike. Raises ValueError when a part is empty."""
    holdout = [s for s in data.samples if s.holdout]
    held = {s.fixture_id for s in holdout}
    validating = _holdout([m for m in data.played if m.fixture_id not in held])
    earlier = [s for s in data.samples if not s.holdout]
    fitted = [s for s in earlier if s.fixture_id not in validating]
    validation = [s for s in earlier if s.fixture_id in validating]
    if not fitted or not validation or not holdout:
        raise ValueError(
            f"too few finished football fixtures to train an in-play model for the registry "
            f"({data.matches} usable: {len(fitted)} fitting, {len(validation)} validation and "
            f"{len(holdout)} holdout states)"
        )
    model = train_inplay_model(
        [s.state for s in fitted],
        outcomes_of(fitted),
        [s.state for s in validation],
        outcomes_of(validation),
        parameters,
    )
    return HoldoutRun(_with_prior_of(model, data), fitted, validation, holdout)


def _with_prior_of(model: InPlayModel, data: TrainingSet) -> InPlayModel:
    """``model`` recording the prior its training set's states start from."""
    return replace(
        model,
        draw_peak=data.draw_peak,
        elo_scale=data.elo_scale,
        elo_carry_over=CARRY_OVER,  # EloPrior's defaults, as MatchTimelines and training_set
        elo_host_advantage=HOST_ADVANTAGE,
    )


def outcomes_of(samples: Sequence[Sample]) -> Outcomes:
    return np.array([s.outcome for s in samples], dtype=np.int64)


def holdout_metrics(model: InPlayModel, holdout: Sequence[Sample]) -> dict[str, float]:
    """The model on the holdout states, against the prior and the Poisson baseline on the same
    states; ``log_loss`` is the promotion metric, ``ece`` pools the three outcomes."""
    states = [s.state for s in holdout]
    y = outcomes_of(holdout)
    predicted = model.predict_proba(states)
    return {
        "log_loss": log_loss(predicted, y),
        "log_loss_prior": log_loss(np.array([s.prior for s in states], dtype=np.float64), y),
        "log_loss_poisson": log_loss(baseline_proba(states), y),
        "ece": expected_calibration_error(predicted, y, bins=CALIBRATION_BINS),
        "n_states": float(len(states)),
        "n_fixtures": float(len({s.fixture_id for s in holdout})),
        "trees": float(model.trees),
        "temperature": model.calibration.temperature,
    }


def holdout_fingerprint(holdout: Sequence[Sample]) -> str:
    """sha256 over the holdout fixtures (id, outcome, the minutes of their states): equal
    fingerprints, the same states scored against the same outcomes. The minutes matter: whether
    a fixture gives seven states or its half-time one depends on the rest of the log."""
    minutes: dict[UUID, tuple[int, list[int]]] = {}
    for s in holdout:
        minutes.setdefault(s.fixture_id, (s.outcome, []))[1].append(s.state.minute)
    digest = hashlib.sha256()
    for fixture_id in sorted(minutes, key=str):
        outcome, at = minutes[fixture_id]
        digest.update(f"{fixture_id}:{outcome}:{','.join(map(str, at))}\n".encode())
    return digest.hexdigest()


def holdout_window(data: TrainingSet) -> str:
    """What the holdout is, readably: the latest share of fixtures, from its first kick-off
    date to its last (UTC). Each prior kind has its own latest share, so fixtures of the other
    kind may fall inside these dates and still train."""
    held = {s.fixture_id for s in data.samples if s.holdout}
    days = [m.kickoff.astimezone(UTC).date() for m in data.played if m.fixture_id in held]
    return f"latest-{HOLDOUT_SHARE:.0%}:{min(days)}..{max(days)}"


def kickoff_range(matches: Sequence[PlayedMatch]) -> tuple[datetime, datetime]:
    kickoffs = [m.kickoff for m in matches]
    return min(kickoffs), max(kickoffs)


def seasons_of(matches: Iterable[PlayedMatch]) -> list[str]:
    """Each competition's seasons as "<Elo pool> <season>" ("FIFA Men's World Cup 2018")."""
    return sorted({f"{pool_of(m.competition)} {m.season}".strip() for m in matches})
