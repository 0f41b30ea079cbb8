"""The rule every kind of model keeps when two are compared on a holdout (docs/adr/0008,
amendment "kinds"): the artifact registered is the one scored on the holdout, the holdout took no
part in fitting it, and two models of a kind are compared only on data neither trained on."""

from __future__ import annotations

from domain.model_registry import HoldoutsNotComparable, TrainedModel


def holdout_gone(model: TrainedModel) -> HoldoutsNotComparable:
    """The log up to the model's cut-off no longer gives the holdout it was scored on."""
    return HoldoutsNotComparable(
        f"the feed up to position {model.cutoff_position} no longer gives the holdout "
        f"{model.model_id} was scored on"
    )


def trained_on_holdout(
    champion: TrainedModel, candidate: TrainedModel, what: str
) -> HoldoutsNotComparable:
    """The champion trained on ``what`` of the candidate's holdout."""
    return HoldoutsNotComparable(
        f"champion {champion.model_id} trained on {what}, part of the holdout of "
        f"{candidate.model_id}: no fair comparison on it exists"
    )
