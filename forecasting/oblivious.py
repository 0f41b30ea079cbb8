"""CatBoost's oblivious trees evaluated in numpy, for the forecaster's few-row calls.

CatBoost's Python `predict` builds a Pool for every call: for one fixture that costs about as
much as the trees themselves (ADR 0009, "Single-forecast latency"). A model's trees are a plain
table, so a few rows are scored here from the model's own JSON export, the way CatBoost's
evaluator does it:

- a feature is converted to float32 and a split is true when it is strictly greater than the
XX
- a tree's leaf index has bit d set when the tree's split d is true;
- leaf values are added tree by tree in order, then `scale * sum + bias`.

The sum is sequential in tree order, as CatBoost's own, so the results are bit-for-bit equal
to `predict(prediction_type="RawFormulaVal")`; tests/unit/test_oblivious.py checks this on
trained models, NaNs included. Anything the table does not describe (categorical or text
features, non-symmetric trees) is refused at load, and the caller keeps using CatBoost.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


class UnsupportedModel(ValueError):
    """The model has parts this evaluator does not implement."""


class ObliviousTrees:
    """Raw scores (CatBoost's RawFormulaVal) for rows of float features."""

    def __init__(self, model: dict[str, Any]) -> None:
        trees = model.get("oblivious_trees")
        info = model.get("features_info", {})
        if not trees or set(info) - {"float_features"}:
            raise UnsupportedModel("only symmetric trees over float features are supported")
        features = info.get("float_features", [])
        nan_true = {
            f["flat_feature_index"]: f.get("nan_value_treatment") == "AsTrue" for f in features
        }
        if any(
            f.get("nan_value_treatment") not in (None, "AsIs", "AsFalse", "AsTrue")
            for f in features
        ):
            raise UnsupportedModel("unknown NaN treatment")
        depth = max(len(t["splits"]) for t in trees)
        dims = len(trees[0]["leaf_values"]) // (1 << len(trees[0]["splits"]))
        feature = np.zeros((len(trees), depth), dtype=np.intp)
        # A tree shallower than the deepest gets splits that are never true (border +inf).
        border = np.full((len(trees), depth), np.inf)
        on_nan = np.zeros((len(trees), depth), dtype=bool)
        leaves = np.zeros((len(trees), 1 << depth, dims))
        for t, tree in enumerate(trees):
            for d, split in enumerate(tree["splits"]):
                if split.get("split_type") != "FloatFeature":
                    raise UnsupportedModel(f"split type {split.get('split_type')}")
                feature[t, d] = split["float_feature_index"]
                border[t, d] = split["border"]
                on_nan[t, d] = nan_true.get(split["float_feature_index"], False)
            values = np.asarray(tree["leaf_values"], dtype=np.float64)
            if len(values) != dims << len(tree["splits"]):
                raise UnsupportedModel("leaf values do not match the tree's depth")
            leaves[t, : 1 << len(tree["splits"])] = values.reshape(-1, dims)
        scale, bias = model.get("scale_and_bias", [1.0, [0.0] * dims])
        self.dimensions = dims
        self.feature_count = len(features)
        self._feature = feature.ravel()
        self._border = border.ravel()
        self._on_nan = on_nan.ravel()
        self._any_nan_true = bool(on_nan.any())
        self._shape = (len(trees), depth)
        self._weights = 1 << np.arange(depth, dtype=np.intp)
        self._leaves = leaves
        self._tree = np.arange(len(trees))
        self._scale = float(scale)
        self._bias = np.asarray(bias if isinstance(bias, list) else [bias], dtype=np.float64)

    @classmethod
    def from_booster(cls, booster: Any) -> ObliviousTrees:
        """From a fitted CatBoost model, through its own JSON export."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            booster.save_model(str(path), format="json")
            return cls(json.loads(path.read_text()))

    def raw(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shape (rows, dimensions); a one-dimensional model (Logloss) gives (rows,)."""
        result = np.empty((len(matrix), self.dimensions))
        for i, row in enumerate(matrix):
            result[i] = self._one(row)
        return result[:, 0] if self.dimensions == 1 else result

    def _one(self, row: NDArray[np.float64]) -> NDArray[np.float64]:
        values = row.astype(np.float32).astype(np.float64)[self._feature]
        bits = values > self._border
        if self._any_nan_true:
            bits |= np.isnan(values) & self._on_nan
        index = bits.reshape(self._shape) @ self._weights
        # cumsum adds in tree order, one tree after another, as CatBoost's evaluator does.
        total: NDArray[np.float64] = np.cumsum(self._leaves[self._tree, index], axis=0)[-1]
        if self._scale == 1.0:
            return total + self._bias
        scaled: NDArray[np.float64] = self._scale * total + self._bias
        return scaled


# Up to this many rows the table is faster than CatBoost's call (about 70 us a row against
# about 350 us a call); above, CatBoost's batch evaluation wins.
FEW_ROWS = 4


def evaluator(booster: Any) -> ObliviousTrees | None:
    """The table for `booster`, or None where only CatBoost can evaluate it."""
    try:
        return ObliviousTrees.from_booster(booster)
    except UnsupportedModel:
        return None


def raw_scores(
    booster: Any, matrix: NDArray[np.float64], trees: ObliviousTrees | None
) -> NDArray[np.float64]:
    """CatBoost's RawFormulaVal for `matrix`, from the table when the call is small."""
    if trees is not None and len(matrix) <= FEW_ROWS:
        return trees.raw(matrix)
    return np.asarray(booster.predict(matrix, prediction_type="RawFormulaVal"))
