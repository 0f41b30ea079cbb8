"""Scoring a 1X2 forecaster against the markets: score cards, paired bootstrap, reliability bins,
and the walk-forward protocol (train on seasons before S, forecast S).

Everything here is pure: rows and probabilities in, numbers out. Writing reports is infra's job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from forecasting.football.market_free import (
    MarketFreeParameters,
    train_market_free_model,
)
from forecasting.football.model import (
    FootballModel,
    FootballModelParameters,
    train_football_model,
)
from forecasting.football.training_set import (
    TrainingRow,
    closing_features,
    closing_probabilities,
    features,
    in_seasons,
    opening_probabilities,
    outcomes,
    results_features,
    seasons_of,
)
from forecasting.metrics import (
    Outcomes,
    Probabilities,
    accuracy,
    brier_score,
    expected_calibration_error,
    log_loss,
    per_match_log_loss,
    per_match_rps,
    ranked_probability_score,
)

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20_240_601
CALIBRATION_BINS = 10
Score = Callable[[Probabilities, Outcomes], float]


def directional_accuracy(probabilities: Probabilities, outcomes: Outcomes) -> float:
    """On decided matches only: did the side given more chance (home vs away) win? NaN if none."""
    decided = outcomes != 1
    if not np.any(decided):
        return float("nan")
    home_favoured = probabilities[decided, 0] >= probabilities[decided, 2]
    return float(np.mean(home_favoured == (outcomes[decided] == 0)))


@dataclass(frozen=True)
class ScoreCard:
    n: int
    rps: float
    log_loss: float
    brier: float
    accuracy: float
    directional_accuracy: float
    ece: float

    @classmethod
    def of(cls, probabilities: Probabilities, outcomes: Outcomes) -> ScoreCard:
        return cls(
            n=len(outcomes),
            rps=ranked_probability_score(probabilities, outcomes),
            log_loss=log_loss(probabilities, outcomes),
            brier=brier_score(probabilities, outcomes),
            accuracy=accuracy(probabilities, outcomes),
            directional_accuracy=directional_accuracy(probabilities, outcomes),
            ece=expected_calibration_error(probabilities, outcomes, bins=CALIBRATION_BINS),
        )

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Difference:
    """Mean of model minus reference per match, with a paired bootstrap 95% interval."""

    estimate: float
    low: float
    high: float
    resamples: int

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def paired_bootstrap(
    model_losses: np.ndarray,
    reference_losses: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Difference:
    """Resample matches (the same draw for both) and take the 2.5/97.5 percentiles of the mean
    difference; pairing removes the match-to-match noise both forecasters share."""
    if len(model_losses) != len(reference_losses) or len(model_losses) == 0:
        raise ValueError("paired bootstrap needs two equally long, non-empty loss vectors")
    diff = np.asarray(model_losses, dtype=np.float64) - np.asarray(reference_losses)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    for i in range(resamples):
        means[i] = diff[rng.integers(0, len(diff), len(diff))].mean()
    low, high = np.percentile(means, [2.5, 97.5])
    return Difference(float(diff.mean()), float(low), float(high), resamples)


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


def reliability_bins(
    probabilities: Probabilities, outcomes: Outcomes, *, bins: int = CALIBRATION_BINS
) -> list[ReliabilityBin]:
    """Every outcome's probability in equal-width bins, as `expected_calibration_error` bins."""
    predicted = probabilities.ravel()
    observed = np.zeros_like(probabilities)
    observed[np.arange(len(outcomes)), outcomes] = 1.0
    flat = observed.ravel()
    which = np.minimum((predicted * bins).astype(np.int64), bins - 1)
    out: list[ReliabilityBin] = []
    for b in range(bins):
        members = which == b
        count = int(np.sum(members))
        out.append(
            ReliabilityBin(
                low=b / bins,
                high=(b + 1) / bins,
                count=count,
                mean_predicted=float(np.mean(predicted[members])) if count else float("nan"),
                observed_rate=float(np.mean(flat[members])) if count else float("nan"),
            )
        )
    return out


@dataclass(frozen=True)
class Comparison:
    """Model, opening and closing market on the same matches, and the model-minus-market CIs."""

    model: ScoreCard
    opening: ScoreCard
    closing: ScoreCard
    rps_vs_opening: Difference
    rps_vs_closing: Difference
    log_loss_vs_opening: Difference
    log_loss_vs_closing: Difference

    @classmethod
    def of(
        cls,
        model: Probabilities,
        opening: Probabilities,
        closing: Probabilities,
        outcomes: Outcomes,
        *,
        resamples: int = BOOTSTRAP_RESAMPLES,
        seed: int = BOOTSTRAP_SEED,
    ) -> Comparison:
        def diff(
            loss: Callable[[Probabilities, Outcomes], np.ndarray], ref: Probabilities
        ) -> Difference:
            return paired_bootstrap(
                loss(model, outcomes), loss(ref, outcomes), resamples=resamples, seed=seed
            )

        return cls(
            model=ScoreCard.of(model, outcomes),
            opening=ScoreCard.of(opening, outcomes),
            closing=ScoreCard.of(closing, outcomes),
            rps_vs_opening=diff(per_match_rps, opening),
            rps_vs_closing=diff(per_match_rps, closing),
            log_loss_vs_opening=diff(per_match_log_loss, opening),
            log_loss_vs_closing=diff(per_match_log_loss, closing),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.model.n,
            "model": self.model.as_dict(),
            "opening_market": self.opening.as_dict(),
            "closing_market": self.closing.as_dict(),
            "model_minus_opening": {
                "rps": self.rps_vs_opening.as_dict(),
                "log_loss": self.log_loss_vs_opening.as_dict(),
            },
            "model_minus_closing": {
                "rps": self.rps_vs_closing.as_dict(),
                "log_loss": self.log_loss_vs_closing.as_dict(),
            },
        }


@dataclass(frozen=True)
class SeasonForecast:
    season: str
    rows: list[TrainingRow]  # scored matches: those with a closing price
    probabilities: Probabilities  # at odds-open
    trained_on: int
    trees: int
    temperature: float
    at_close: Probabilities | None = None  # triggered by the closing quote
    market_free: Probabilities | None = None  # results only, at odds-open
    corrections_kept: dict[str, bool] | None = None  # per stage: one-SE rule passed


def train_before(
    rows: Sequence[TrainingRow],
    season: str,
    parameters: FootballModelParameters,
    market_free: MarketFreeParameters | None = None,
) -> tuple[FootballModel, int]:
    """A model from the seasons before `season`: the last of them sizes and calibrates it,
    at odds-open, at the closing quote and market-free (the results-only model it carries
    for fixtures nobody quotes)."""
    training, holdout = _split_before(rows, season)
    closed_training = [r for r in training if r.at_close is not None]
    closed_holdout = [r for r in holdout if r.at_close is not None]
    closing = None
    if closed_training and closed_holdout:
        closing = (
            closing_features(closed_training),
            outcomes(closed_training),
            closing_features(closed_holdout),
            outcomes(closed_holdout),
        )
    model = train_football_model(
        features(training),
        outcomes(training),
        features(holdout),
        outcomes(holdout),
        parameters,
        closing=closing,
    )
    free = train_market_free_model(
        results_features(training),
        outcomes(training),
        results_features(holdout),
        outcomes(holdout),
        market_free or _market_free_parameters(parameters),
    )
    return replace(model, market_free=free), len(training) + len(holdout)


def _market_free_parameters(p: FootballModelParameters) -> MarketFreeParameters:
    """The market-free model's own learning rate, depth and regularisation, with the market
    model's budget (tree cap, early stopping), seed and threads."""
    return MarketFreeParameters(
        max_iterations=p.max_iterations,
        early_stopping_rounds=p.early_stopping_rounds,
        random_seed=p.random_seed,
        thread_count=p.thread_count,
    )


def _split_before(
    rows: Sequence[TrainingRow], season: str
) -> tuple[list[TrainingRow], list[TrainingRow]]:
    prior = [s for s in seasons_of(rows) if s < season]
    if len(prior) < 2:
        raise ValueError(f"season {season} needs two earlier seasons to train and calibrate")
    return in_seasons(rows, prior[:-1]), in_seasons(rows, prior[-1:])


def walk_forward(
    rows: Sequence[TrainingRow],
    seasons: Sequence[str],
    parameters: FootballModelParameters,
    market_free: MarketFreeParameters | None = None,
) -> list[SeasonForecast]:
    """For each season S: train on earlier seasons, forecast S's matches that have a closing
    price (at odds-open, at the closing quote, and market-free), so that the model, opening
    and closing market are scored on the same matches."""
    out: list[SeasonForecast] = []
    for season in seasons:
        test = [
            r
            for r in in_seasons(rows, [season])
            if r.closing is not None and r.at_close is not None
        ]
        if not test:
            raise ValueError(f"no scorable matches in season {season}")
        model, trained_on = train_before(rows, season, parameters, market_free)
        free = model.market_free
        assert free is not None
        out.append(
            SeasonForecast(
                season=season,
                rows=test,
                probabilities=model.predict_proba(features(test)),
                trained_on=trained_on,
                trees=model.trees,
                temperature=model.calibration.temperature,
                at_close=model.predict_proba(closing_features(test)),
                market_free=free.predict_proba(results_features(test)),
                corrections_kept={"odds-open": model.opening.kept, "closing": model.closing.kept},
            )
        )
    return out


def compare(
    rows: Sequence[TrainingRow], model: Probabilities, *, resamples: int = BOOTSTRAP_RESAMPLES
) -> Comparison:
    return Comparison.of(
        model,
        opening_probabilities(rows),
        closing_probabilities(rows),
        outcomes(rows),
        resamples=resamples,
    )


@dataclass(frozen=True)
class HoldoutRun:
    """A model trained on the seasons before `season` and scored on all of `season`."""

    model: FootballModel
    season: str
    rows: list[TrainingRow]
    training_rows: list[TrainingRow]
    metrics: dict[str, float]


def train_for_holdout(
    rows: Sequence[TrainingRow], season: str, parameters: FootballModelParameters
) -> HoldoutRun:
    """The registry's training run: the model it stores is exactly the one scored here, so its
    holdout metrics are out of sample (the holdout season took no part in fitting it)."""
    holdout = in_seasons(rows, [season])
    if not holdout:
        raise ValueError(f"no matches of holdout season {season}")
    model, _ = train_before(rows, season, parameters)
    y = outcomes(holdout)
    predicted = model.predict_proba(features(holdout))
    opening = opening_probabilities(holdout)
    metrics = {
        "n": float(len(holdout)),
        "rps": ranked_probability_score(predicted, y),
        "log_loss": log_loss(predicted, y),
        "ece": expected_calibration_error(predicted, y, bins=CALIBRATION_BINS),
        "opening_rps": ranked_probability_score(opening, y),
        "trees": float(model.trees),
        "temperature": model.calibration.temperature,
    }
    if model.market_free is not None:  # results only, on the same matches
        free = model.market_free.predict_proba(results_features(holdout))
        metrics["market_free_rps"] = ranked_probability_score(free, y)
        metrics["market_free_log_loss"] = log_loss(free, y)
        metrics["market_free_ece"] = expected_calibration_error(free, y, bins=CALIBRATION_BINS)
        metrics["market_free_trees"] = float(model.market_free.trees)
    training = [r for r in rows if r.season < season]
    return HoldoutRun(model, season, holdout, training, metrics)
