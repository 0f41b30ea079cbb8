"""The NBA file (pre-game model and in-play quarter fits) as a kind of the registry: the
holdout is a season (`training.split_holdout`), a champion may be re-scored on a candidate's
holdout only if it did not train on that season, and the promotion metric is log loss over every
forecast the file makes (`training.holdout_metrics`)."""

from __future__ import annotations

from domain.model_registry import TrainedModel
from forecasting.holdout import holdout_gone, trained_on_holdout
from forecasting.nba.training import NbaTrainingSet, holdout_fingerprint


def refuse_trained_on(champion: TrainedModel, candidate: TrainedModel) -> None:
    """A champion trained on every season before its own holdout season (what
    `ModelTrained.seasons` lists besides it); one that lists the candidate's holdout season
    among them trained on it."""
    trained_on = set(champion.seasons) - {champion.holdout_season}
    if candidate.holdout_season in trained_on:
        raise trained_on_holdout(champion, candidate, f"season {candidate.holdout_season}")


def candidate_holdout(data: NbaTrainingSet, candidate: TrainedModel) -> NbaTrainingSet:
    """The candidate's holdout season rebuilt from ``data`` (the log up to its cut-off), if it
    is the one the candidate was scored on; else HoldoutsNotComparable."""
    holdout = data.of_seasons([candidate.holdout_season])
    if holdout_fingerprint(holdout) != candidate.holdout_fingerprint:
        raise holdout_gone(candidate)
    return holdout
