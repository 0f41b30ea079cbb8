"""Forecasting inputs (from any source) -> the rows a football model trains and is scored on.

One row per fixture that had its opening odds and a result: the features at the moment the odds
opened (so later results never leak in), the outcome, the closing prices to compare with, and
the features at the closing quote (its prices as the market columns, results only up to then),
what a closing-triggered forecast sees.
This is the same protocol as benchmarks/eval_football.py: every fixture is announced first, then
all timed inputs stream in `event_order` (ties broken by competition, kick-off and teams, as the
CSV path's fixture ids sort) through one strict `FeatureBuilder`. Opening odds of a
fixture that never got a result are left out, as the CSV path never emits them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from forecasting.football.features import FeatureBuilder, FootballFeatures, event_rank
from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsMoved,
    OddsOpened,
    ResultKnown,
)
from forecasting.football.market_free import ResultsFeatures
from forecasting.metrics import Outcomes, Probabilities


@dataclass(frozen=True)
class TrainingRow:
    fixture: FixtureAnnounced
    features: FootballFeatures
    closing: tuple[float, float, float] | None  # decimal prices, as quoted
    outcome: int  # 0 home, 1 draw, 2 away
    at_close: FootballFeatures | None = None  # as of the closing quote, if it came after odds-open
    results: ResultsFeatures | None = None  # the market-free model's row, at odds-open

    @property
    def season(self) -> str:
        return self.fixture.season

    @property
    def competition(self) -> str:
        return self.fixture.competition


def build_rows(inputs: Iterable[ForecastInput]) -> list[TrainingRow]:
    """Rows in the order their odds opened. Inputs may come in any order."""
    fixtures: dict[str, FixtureAnnounced] = {}
    timed: list[OddsOpened | OddsMoved | OddsClosed | ResultKnown] = []
    results: dict[str, ResultKnown] = {}
    closings: dict[str, OddsClosed] = {}
    for event in inputs:
        if isinstance(event, FixtureAnnounced):
            fixtures[event.fixture_id] = event  # a later announcement (rescheduled) wins
            continue
        timed.append(event)
        if isinstance(event, ResultKnown):
            results[event.fixture_id] = event
        elif isinstance(event, OddsClosed):
            closings[event.fixture_id] = event
    builder = FeatureBuilder(strict=True)
    for fixture in fixtures.values():
        builder.apply(fixture)
    rows: list[TrainingRow] = []
    row_of: dict[str, int] = {}  # fixture -> its row, for the closing snapshot

    # `event_order`, but ties broken by what a fixture is rather than how its id is spelt:
    # simultaneous updates share league-wide state (the market's home advantage), so the
    # order must not depend on the id scheme (CSV strings here, UUIDs in the event store).
    # Times as instants (`_instant`): the same order, without comparing time zones.
    described = {
        fixture_id: (f.competition, _instant(f.kickoff), f.home, f.away)
        for fixture_id, f in fixtures.items()
    }

    def order(event: OddsOpened | OddsMoved | OddsClosed | ResultKnown) -> tuple[object, ...]:
        return (_instant(event.at), event_rank(event), *described[event.fixture_id])

    for event in sorted(timed, key=order):
        if isinstance(event, OddsOpened):
            result = results.get(event.fixture_id)
            if result is None:
                continue
            builder.apply(event)
            closing = closings.get(event.fixture_id)
            row_of[event.fixture_id] = len(rows)
            rows.append(
                TrainingRow(
                    fixture=fixtures[event.fixture_id],
                    features=builder.features(event.fixture_id),
                    results=builder.results_features(event.fixture_id),
                    closing=None if closing is None else (closing.home, closing.draw, closing.away),
                    outcome=outcome_of(result.home_goals, result.away_goals),
                )
            )
        else:
            builder.apply(event)
            if isinstance(event, OddsClosed) and event.fixture_id in row_of:
                index = row_of.pop(event.fixture_id)
                rows[index] = replace(rows[index], at_close=builder.features(event.fixture_id))
    return rows


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def _instant(moment: datetime) -> int:
    """Microseconds since the epoch, which order exactly as the datetimes do. Sorting on these
    rather than on aware datetimes (each decoded with its own tzinfo, so every comparison
    converts both to UTC) takes most of the time out of ordering a long history."""
    return (moment - (_NAIVE_EPOCH if moment.utcoffset() is None else _EPOCH)) // _MICROSECOND


def outcome_of(home_goals: int, away_goals: int) -> int:
    return 0 if home_goals > away_goals else 1 if home_goals == away_goals else 2


def seasons_of(rows: Sequence[TrainingRow]) -> list[str]:
    return sorted({r.season for r in rows})


def in_seasons(rows: Sequence[TrainingRow], seasons: Iterable[str]) -> list[TrainingRow]:
    wanted = set(seasons)
    return [r for r in rows if r.season in wanted]


def outcomes(rows: Sequence[TrainingRow]) -> Outcomes:
    return np.array([r.outcome for r in rows], dtype=np.int64)


def features(rows: Sequence[TrainingRow]) -> list[FootballFeatures]:
    return [r.features for r in rows]


def closing_features(rows: Sequence[TrainingRow]) -> list[FootballFeatures]:
    """Every row's features at its closing quote; every row must have them."""
    out = []
    for r in rows:
        if r.at_close is None:
            raise ValueError(f"{r.fixture.fixture_id} has no closing snapshot")
        out.append(r.at_close)
    return out


def results_features(rows: Sequence[TrainingRow]) -> list[ResultsFeatures]:
    """Every row's market-free features (at odds-open)."""
    out = []
    for r in rows:
        if r.results is None:
            raise ValueError(f"{r.fixture.fixture_id} has no market-free features")
        out.append(r.results)
    return out


def opening_probabilities(rows: Sequence[TrainingRow]) -> Probabilities:
    return np.array([r.features.market_probabilities() for r in rows], dtype=np.float64)


def closing_probabilities(rows: Sequence[TrainingRow]) -> Probabilities:
    """Margin-free (proportional) closing probabilities; every row must have a closing price."""
    prices = np.array([_require_closing(r) for r in rows], dtype=np.float64)
    implied = 1.0 / prices
    result: Probabilities = implied / implied.sum(axis=1, keepdims=True)
    return result


def fingerprint(rows: Sequence[TrainingRow]) -> str:
    """Which matches and outcomes a set of rows holds: equal fingerprints, comparable scores."""
    digest = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r.fixture.fixture_id):
        digest.update(f"{r.fixture.fixture_id}:{r.outcome}\n".encode())
    return digest.hexdigest()


def kickoff_range(rows: Sequence[TrainingRow]) -> tuple[datetime, datetime]:
    kickoffs = [r.fixture.kickoff for r in rows]
    return min(kickoffs), max(kickoffs)


def _require_closing(row: TrainingRow) -> tuple[float, float, float]:
    if row.closing is None:
        raise ValueError(f"{row.fixture.fixture_id} has no closing price")
    return row.closing
