"""The in-play football model as a kind of the registry: its holdout (the latest share of each
prior kind's usable fixtures), when a champion may be re-scored on a candidate's holdout, and the
promotion metric (log loss, `training.holdout_metrics`)."""

from __future__ import annotations

from domain.model_registry import TrainedModel
from forecasting.holdout import holdout_gone, trained_on_holdout
from forecasting.inplay.training import Sample, TrainingSet, holdout_fingerprint


def scored_on(model: TrainedModel, data: TrainingSet) -> list[Sample]:
    """The holdout states of ``data`` (rebuilt from the log up to ``model``'s cut-off), if they
    are the ones ``model`` was scored on; else HoldoutsNotComparable."""
    holdout = [s for s in data.samples if s.holdout]
    if holdout_fingerprint(holdout) != model.holdout_fingerprint:
        raise holdout_gone(model)
    return holdout


def rescore_holdout(
    champion: TrainedModel,
    candidate: TrainedModel,
    candidates_data: TrainingSet,
    champions_data: TrainingSet,
) -> list[Sample]:
    """The candidate's holdout, if the champion may be scored on it.

    The rule: the champion trained on every usable fixture up to its cut-off but its own
    holdout. Those are rebuilt from the log (``champions_data``, whose fingerprint proves the
    rebuild is what it saw); if any of them is in the candidate's holdout, the two are not
    compared. A share of matches, not a season, is held out: a champion from another cut-off
    may have trained on part of the candidate's window, and dates alone cannot say which."""
    holdout = scored_on(candidate, candidates_data)
    scored_on(champion, champions_data)
    trained_on = {s.fixture_id for s in champions_data.samples if not s.holdout}
    overlap = trained_on & {s.fixture_id for s in holdout}
    if overlap:
        what = f"{len(overlap)} fixtures of the holdout ({candidate.holdout_season})"
        raise trained_on_holdout(champion, candidate, what)
    return holdout
