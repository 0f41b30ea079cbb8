"""The football 1X2 model as a kind of the registry: which season is held out, when a champion
may be re-scored on a candidate's holdout, and the promotion metric (RPS).

The holdout is a whole season (default the last one); the model is trained on the seasons
before it (`evaluation.train_for_holdout`)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.model_registry import TrainedModel
from forecasting.football.model import FootballModel
from forecasting.football.training_set import (
    TrainingRow,
    features,
    fingerprint,
    in_seasons,
    outcomes,
    seasons_of,
)
from forecasting.holdout import holdout_gone, trained_on_holdout
from forecasting.metrics import ranked_probability_score


def holdout_season(rows: Sequence[TrainingRow], wanted: str | None, *, cutoff: int) -> str:
    """``wanted``, or the last season of ``rows``; ValueError when there is none."""
    seasons = seasons_of(rows)
    if not seasons:
        raise ValueError(f"no forecastable matches in the feed up to position {cutoff}")
    return wanted or seasons[-1]


def refuse_trained_on(champion: TrainedModel, candidate: TrainedModel) -> None:
    """A champion trained on every season before its holdout season: one held out later than
    the candidate trained on the candidate's holdout season."""
    if champion.holdout_season > candidate.holdout_season:
        raise trained_on_holdout(champion, candidate, f"season {candidate.holdout_season}")


def candidate_holdout(rows: Sequence[TrainingRow], candidate: TrainedModel) -> list[TrainingRow]:
    """The candidate's holdout rebuilt from ``rows`` (the log up to its cut-off), if it is the
    one the candidate was scored on (same fingerprint); else HoldoutsNotComparable."""
    holdout = in_seasons(rows, [candidate.holdout_season])
    if fingerprint(holdout) != candidate.holdout_fingerprint:
        raise holdout_gone(candidate)
    return holdout


def holdout_score(model: FootballModel, holdout: Sequence[TrainingRow]) -> float:
    """The promotion metric: ranked probability score on the holdout."""
    return ranked_probability_score(model.predict_proba(features(holdout)), outcomes(holdout))
