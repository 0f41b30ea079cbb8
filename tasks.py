#!/usr/bin/env python3
"""Developer tasks with nothing but Python 3.11+ and pip: `python3 tasks.py run|test|check|bench`.

Each task first makes sure .venv exists and holds the project with its dev extra, at the versions
pinned in constraints.txt, reinstalling whenever pyproject.toml or constraints.txt changes.
`python3 tasks.py lock` re-resolves every dependency at its newest allowed version and rewrites
constraints.txt (ADR 0037).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"
CONSTRAINTS = ROOT / "constraints.txt"


def sh(*argv: str) -> None:
    print("+", " ".join(argv), flush=True)
    code = subprocess.call(argv, cwd=ROOT)
    if code != 0:
        sys.exit(code)


def install() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be run by an older python3
        sys.exit(f"sportcast needs Python >= 3.11, this is {sys.version.split()[0]}")
    pinned = (ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()
    wanted = hashlib.sha256(pinned).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        sh(sys.executable, "-m", "venv", str(VENV))
    pip = [str(BIN / "python"), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS)]
    sh(*pip, "--upgrade", "pip")
    sh(*pip, "-e", ".[dev]")
    STAMP.write_text(wanted)


def lock() -> None:
    """Resolve the newest versions pyproject.toml allows in a scratch venv; pin them."""
    scratch = ROOT / ".venv-lock"
    sh(sys.executable, "-m", "venv", "--clear", str(scratch))
    python = str(scratch / "bin" / "python")
    sh(python, "-m", "pip", "install", "-q", "--upgrade", "pip")
    sh(python, "-m", "pip", "install", "-q", "-e", ".[dev]")
    frozen = subprocess.check_output(
        [python, "-m", "pip", "freeze", "--all", "--exclude-editable"], cwd=ROOT, text=True
    )
    header = [line for line in CONSTRAINTS.read_text().splitlines() if line.startswith("#")]
    pins = [line for line in frozen.splitlines() if not line.startswith("sportcast")]
    CONSTRAINTS.write_text("\n".join([*header, *pins]) + "\n")
    print(f"{len(pins)} pins written to {CONSTRAINTS.name}; review the diff, then run the tests")


def check() -> None:
    sh(str(BIN / "ruff"), "check", ".")
    sh(str(BIN / "ruff"), "format", "--check", ".")
    sh(str(BIN / "mypy"))
    sh(str(BIN / "lint-imports"))


def test(args: list[str]) -> None:
    check()
    code = subprocess.call([str(BIN / "pytest"), *args], cwd=ROOT)
    if code == 5:
        sys.exit("pytest collected no tests: that is a failure, not a pass")
    sys.exit(code)


def main(argv: list[str]) -> None:
    task, args = (argv[0], argv[1:]) if argv else ("help", [])
    if task not in {"run", "test", "check", "bench", "install", "lock"}:
        sys.exit(__doc__)
    if task == "lock":
        lock()
        return
    install()
    if task == "run":
        os.execv(str(BIN / "sportcast"), [str(BIN / "sportcast"), "up", *args])
    elif task == "test":
        test(args)
    elif task == "check":
        check()
    elif task == "bench":
        os.execv(str(BIN / "python"), [str(BIN / "python"), "-m", "benchmarks", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
