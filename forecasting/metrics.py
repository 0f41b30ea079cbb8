"""Scoring rules for 1X2 forecasts.

`probabilities` is an (n, 3) array over (home, draw, away); `outcomes` holds 0 for a home win,
1 for a draw and 2 for an away win. The ``per_match_*`` functions score each match (the
projections score each settled forecast with them); the others return the mean over matches.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Probabilities = NDArray[np.float64]
Outcomes = NDArray[np.int64]


def ranked_probability_score(probabilities: Probabilities, outcomes: Outcomes) -> float:
    """RPS: squared error of the cumulative distribution, which respects home < draw < away."""
    return float(np.mean(per_match_rps(probabilities, outcomes)))


def per_match_rps(probabilities: Probabilities, outcomes: Outcomes) -> NDArray[np.float64]:
    observed = _one_hot(outcomes, probabilities.shape[1])
    gap = np.cumsum(probabilities, axis=1) - np.cumsum(observed, axis=1)
    result: NDArray[np.float64] = np.sum(gap[:, :-1] ** 2, axis=1) / (probabilities.shape[1] - 1)
    return result


def log_loss(probabilities: Probabilities, outcomes: Outcomes, *, floor: float = 1e-15) -> float:
    return float(np.mean(per_match_log_loss(probabilities, outcomes, floor=floor)))


def per_match_log_loss(
    probabilities: Probabilities, outcomes: Outcomes, *, floor: float = 1e-15
) -> NDArray[np.float64]:
    chosen = probabilities[np.arange(len(outcomes)), outcomes]
    result: NDArray[np.float64] = -np.log(np.clip(chosen, floor, 1.0))
    return result


def brier_score(probabilities: Probabilities, outcomes: Outcomes) -> float:
    """Multi-class Brier: summed over the outcomes, so it ranges from 0 to 2."""
    return float(np.mean(per_match_brier(probabilities, outcomes)))


def per_match_brier(probabilities: Probabilities, outcomes: Outcomes) -> NDArray[np.float64]:
    observed = _one_hot(outcomes, probabilities.shape[1])
    result: NDArray[np.float64] = np.sum((probabilities - observed) ** 2, axis=1)
    return result


def accuracy(probabilities: Probabilities, outcomes: Outcomes) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == outcomes))


def expected_calibration_error(
    probabilities: Probabilities, outcomes: Outcomes, *, bins: int = 10
) -> float:
    """ECE over every outcome's probability: equal-width bins, weighted by how many fall in each."""
    predicted = probabilities.ravel()
    observed = _one_hot(outcomes, probabilities.shape[1]).ravel()
    # Bin b holds [b/bins, (b+1)/bins); a probability of exactly 1 goes in the last bin.
    which = np.minimum((predicted * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        count = int(np.sum(members))
        if count:
            total += count * abs(float(np.mean(predicted[members] - observed[members])))
    return total / len(predicted)


def _one_hot(outcomes: Outcomes, classes: int) -> NDArray[np.float64]:
    observed = np.zeros((len(outcomes), classes), dtype=np.float64)
    observed[np.arange(len(outcomes)), outcomes] = 1.0
    return observed
