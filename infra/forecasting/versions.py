"""The library versions a training run records (`ModelTrained.library_versions`)."""

from __future__ import annotations

import importlib.metadata

import catboost
import numpy as np


def library_versions() -> dict[str, str]:
    return {
        "catboost": str(catboost.__version__),
        "numpy": np.__version__,
        "sportcast": importlib.metadata.version("sportcast"),
    }
