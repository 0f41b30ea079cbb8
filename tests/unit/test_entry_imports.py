"""Each entry module imports on its own, in a fresh interpreter: an import cycle that other
imports happen to hide (tests import modules in some order) still breaks `sportcast` itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

ENTRIES = ["infra.cli", "infra.connections", "infra.connection_state", "infra.bootstrap"]


@pytest.mark.parametrize("module", ENTRIES)
def test_the_module_imports_first(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
