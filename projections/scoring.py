"""Scoring a settled forecast: which outcome happened, and the forecast's and the market's
RPS, log loss and Brier score, computed by the modelling code's own metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.metrics import per_match_brier, per_match_log_loss, per_match_rps

TRACKS = {"odds-opened": "odds-open", "odds-closing": "close", "in-match-event": "in-play"}


def track_of(trigger: str) -> str:
    """The track record a trigger counts in: odds-open, close, in-play (else the trigger)."""
    return TRACKS.get(trigger, trigger)


def outcome_name(home: int, away: int) -> str:
    if home > away:
        return "home"
    return "away" if away > home else "draw"


@dataclass(frozen=True)
class Scores:
    outcome: int
    rps: float
    log_loss: float
    brier: float
    market_rps: float | None
    market_log_loss: float | None
    market_brier: float | None
    """None: a market-free forecast had no market to score (empty market_probabilities)."""


@dataclass(frozen=True)
class Unscored:
    outcomes: Sequence[str]
    probabilities: Sequence[float]
    market_probabilities: Sequence[float]


def score_all(
    forecasts: Sequence[Unscored], results: Sequence[tuple[int, int]]
) -> list[Scores | None]:
    """Each forecast scored against its result (same index); None where the result is not one
    of the forecast's outcomes (e.g. a draw for a two-way market)."""
    out: list[Scores | None] = [None] * len(forecasts)
    by_width: dict[int, list[tuple[int, int]]] = {}
    for i, (f, (home, away)) in enumerate(zip(forecasts, results, strict=True)):
        name = outcome_name(home, away)
        if name in f.outcomes:
            by_width.setdefault(len(f.outcomes), []).append((i, list(f.outcomes).index(name)))
    for members in by_width.values():
        index = [i for i, _ in members]
        outcomes = np.array([o for _, o in members], dtype=np.int64)
        model = np.array([forecasts[i].probabilities for i in index], dtype=np.float64)
        # A market-free forecast has no market (docs/adr/0013): NaN rows, stored as NULL.
        market = np.array(
            [
                forecasts[i].market_probabilities
                if len(forecasts[i].market_probabilities)
                else [math.nan] * model.shape[1]
                for i in index
            ],
            dtype=np.float64,
        )
        columns = (
            per_match_rps(model, outcomes),
            per_match_log_loss(model, outcomes),
            per_match_brier(model, outcomes),
            per_match_rps(market, outcomes),
            per_match_log_loss(market, outcomes),
            per_match_brier(market, outcomes),
        )
        for k, i in enumerate(index):
            values = [float(c[k]) for c in columns]
            market_scores = [None if math.isnan(v) else v for v in values[3:]]
            out[i] = Scores(int(outcomes[k]), *values[:3], *market_scores)
    return out
