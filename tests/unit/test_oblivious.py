"""The numpy table of CatBoost's trees gives CatBoost's own raw scores, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from catboost import CatBoostClassifier, Pool

from forecasting.oblivious import FEW_ROWS, ObliviousTrees, evaluator, raw_scores
from forecasting.prior_boost import PriorBoost


def _data(rng: np.random.Generator, rows: int) -> np.ndarray:
    x = rng.normal(size=(rows, 6))
    x[::7, 2] = np.nan
    x[::5, 4] = 1e-9 * rng.normal(size=len(x[::5, 4]))  # values at float32's edge
    return x


@pytest.mark.parametrize(
    "settings",
    [
        {"loss_function": "MultiClass", "depth": 4},
        {"loss_function": "MultiClass", "depth": 6, "nan_mode": "Max"},
        {"loss_function": "Logloss", "depth": 3, "boost_from_average": True, "nan_mode": "Max"},
    ],
)
def test_raw_scores_equal_catboost_bit_for_bit(settings: dict[str, object]) -> None:
    rng = np.random.default_rng(7)
    x = _data(rng, 3_000)
    classes = 3 if settings["loss_function"] == "MultiClass" else 2
    y = rng.integers(0, classes, len(x))
    booster = CatBoostClassifier(
        iterations=120, learning_rate=0.1, random_seed=1, verbose=False, **settings
    )
    booster.fit(x, y)
    table = ObliviousTrees.from_booster(booster)
    probe = _data(rng, 500)
    probe[::3, 2] = np.nan  # NaN where training had them, and where it had none
    probe[::4, 0] = np.nan
    expected = np.asarray(booster.predict(probe, prediction_type="RawFormulaVal"))
    assert np.array_equal(table.raw(probe), expected)
    for i in range(50):  # and one row at a time, as the forecaster calls it
        assert np.array_equal(raw_scores(booster, probe[i : i + 1], table), expected[i : i + 1])


def test_prior_boosted_model_scores_one_fixture_as_in_a_batch() -> None:
    rng = np.random.default_rng(11)
    market = rng.dirichlet([4, 3, 3], size=2_000)
    x = np.hstack([market, rng.normal(size=(2_000, 3))])
    y = np.array([rng.choice(3, p=p) for p in market])
    recipe = PriorBoost(prior_columns=(0, 1, 2), feature_names=[f"f{i}" for i in range(6)])
    booster = CatBoostClassifier(
        loss_function="MultiClass", iterations=80, depth=4, random_seed=3, verbose=False
    )
    booster.fit(Pool(x, y, baseline=np.log(market)))
    table = evaluator(booster)
    assert table is not None
    batch = recipe.predict_uncalibrated(booster, x[:200])
    for i in range(200):
        assert np.array_equal(
            recipe.predict_uncalibrated(booster, x[i : i + 1], table)[0], batch[i]
        )


def test_large_calls_go_to_catboost_and_give_the_same_scores() -> None:
    rng = np.random.default_rng(3)
    x = _data(rng, 1_000)
    booster = CatBoostClassifier(
        loss_function="MultiClass", iterations=40, random_seed=1, verbose=False
    )
    booster.fit(x, rng.integers(0, 3, len(x)))
    table = ObliviousTrees.from_booster(booster)
    big = x[: FEW_ROWS + 1]
    assert np.array_equal(raw_scores(booster, big, table), table.raw(big))


def test_models_with_categorical_features_are_left_to_catboost() -> None:
    rng = np.random.default_rng(5)
    x = [[str(rng.integers(0, 4)), float(rng.normal())] for _ in range(300)]
    booster = CatBoostClassifier(iterations=10, random_seed=1, verbose=False, cat_features=[0])
    booster.fit(x, rng.integers(0, 2, 300))
    assert evaluator(booster) is None
