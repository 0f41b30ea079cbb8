"""`sportcast` start-up: wall and CPU seconds, and modules imported, before a command works.

Each case runs BENCH_RUNS (default 7) times in a fresh interpreter (as the console script
does: `infra.cli:app`), alternating this checkout with the peer BENCH_CLI_PEER when set (another
checkout of sportcast, e.g. a worktree of main before lazy command modules, docs/adr/0039; it
runs on this checkout's virtualenv), and prints medians and the ratio peer / ours. CPU is
user + system of the child (``RUSAGE_CHILDREN``). Modules: one extra run per case and checkout
under ``python -X importtime`` (a line per module imported), with which of the heavy libraries
(catboost, pandas, numpy, fastapi, duckdb, pyarrow) were among them.

Cases: `sportcast --help`, `sportcast audit verify --help`, and with BENCH_STORE=DIR (a copy of
a JetStream store directory, e.g. bench_audit's) `sportcast audit verify --store-dir DIR
--no-forecasts --json`, the start-up plus the chain check of that store.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
PEER = os.environ.get("BENCH_CLI_PEER")
STORE = os.environ.get("BENCH_STORE")
HERE = Path(__file__).resolve().parent.parent
HEAVY = ("catboost", "pandas", "numpy", "fastapi", "duckdb", "pyarrow")
LAUNCH = "import sys; from infra.cli import app; sys.argv[0] = 'sportcast'; app()"


@dataclass
class Run:
    wall: float
    cpu: float
    code: int


def cases() -> dict[str, list[str]]:
    found = {"--help": ["--help"], "audit verify --help": ["audit", "verify", "--help"]}
    if STORE:
        found["audit verify --store-dir"] = [
            "audit",
            "verify",
            "--store-dir",
            STORE,
            "--no-forecasts",
            "--json",
        ]
    return found


def environment(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root), "SPORTCAST_LOG_LEVEL": "warning"}


def run_once(root: Path, args: list[str]) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, *args],
        cwd=root,
        env=environment(root),
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, done.returncode)


def modules(root: Path, args: list[str]) -> tuple[int, list[str]]:
    """How many modules a run imports, and which of HEAVY."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", LAUNCH, *args],
        cwd=root,
        env=environment(root),
        capture_output=True,
        text=True,
        check=False,
    )
    names = [
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and not line.endswith("imported package")
    ]
    return len(names), [h for h in HEAVY if h in names]


def main() -> None:
    checkouts = {"ours": HERE} | ({"peer": Path(PEER).resolve()} if PEER else {})
    print(f"load average {os.getloadavg()}; {RUNS} runs per case; {checkouts}")
    if PEER:
        print(f"peer: the checkout at {PEER}, same interpreter and packages")
    for case, args in cases().items():
        key = case.replace("--", "").replace(" ", "_").strip("_")
        runs: dict[str, list[Run]] = {name: [] for name in checkouts}
        for _ in range(RUNS):  # alternated, so that both see the same load
            for name, root in checkouts.items():
                runs[name].append(run_once(root, args))
        medians = {}
        for name, root in checkouts.items():
            wall = statistics.median(r.wall for r in runs[name])
            cpu = statistics.median(r.cpu for r in runs[name])
            count, heavy = modules(root, args)
            medians[name] = (wall, cpu)
            print(f"{key}_wall_{name} {wall:.3f} s")
            print(f"{key}_cpu_{name} {cpu:.3f} s")
            print(f"{key}_modules_{name} {count} modules")
            codes = sorted({r.code for r in runs[name]})
            print(f"  {case} ({name}): exit codes {codes}; heavy: {', '.join(heavy) or 'none'}")
        if "peer" in medians:
            (ours_wall, ours_cpu), (peer_wall, peer_cpu) = medians["ours"], medians["peer"]
            print(f"{key}_wall_peer_over_ours {peer_wall / ours_wall:.2f} x")
            print(f"{key}_cpu_peer_over_ours {peer_cpu / ours_cpu:.2f} x")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
