"""``make bench``: run every benchmark module in its own process and write one JSON report.

A benchmark is ``benchmarks/bench_<topic>.py``, runnable as ``python -m benchmarks.bench_<topic>``.
It prints one measurement per line as ``name value unit`` (``value`` a number), and one or more
``peer: <what it was compared with>`` lines. Ratios against a peer measured in the same run are
reported as their own measurements (unit ``x``). Anything else it prints is kept as notes.

Usage: python -m benchmarks [topic ...]   (default: every benchmark)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def parse(output: str) -> tuple[list[dict[str, object]], list[str], list[str]]:
    measurements: list[dict[str, object]] = []
    peers: list[str] = []
    notes: list[str] = []
    for line in output.splitlines():
        if line.startswith("peer:"):
            peers.append(line.removeprefix("peer:").strip())
            continue
        fields = line.split()
        if len(fields) == 3:
            try:
                value = float(fields[1])
            except ValueError:
                notes.append(line)
                continue
            measurements.append({"name": fields[0], "value": value, "unit": fields[2]})
        elif line.strip():
            notes.append(line)
    return measurements, peers, notes


def main(argv: list[str]) -> int:
    topics = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    report: dict[str, object] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "node": platform.node()},
        "benchmarks": {},
    }
    benchmarks: dict[str, object] = {}
    failed = 0
    for topic in topics:
        print(f"== {topic}", flush=True)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.bench_{topic}"],
            capture_output=True,
            text=True,
            check=False,
        )
        print(proc.stdout, end="", flush=True)
        measurements, peers, notes = parse(proc.stdout)
        if proc.returncode != 0:
            failed += 1
            print(proc.stderr[-4000:], file=sys.stderr)
        benchmarks[topic] = {
            "exit_code": proc.returncode,
            "seconds": round(time.monotonic() - started, 1),
            "measurements": measurements,
            "peers": peers,
            "notes": notes,
        }
    report["benchmarks"] = benchmarks
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "latest.txt").write_text(summary(benchmarks))
    print("\n" + summary(benchmarks))
    print(f"report: {RESULTS / 'latest.json'}")
    return 1 if failed else 0


def summary(benchmarks: dict[str, object]) -> str:
    lines = []
    for topic, result in benchmarks.items():
        assert isinstance(result, dict)
        status = "ok" if result["exit_code"] == 0 else f"FAILED (exit {result['exit_code']})"
        lines.append(f"{topic}: {status}, {result['seconds']} s")
        for peer in result["peers"]:
            lines.append(f"  peer: {peer}")
        for m in result["measurements"]:
            lines.append(f"  {m['name']:<48} {m['value']:>14,.3f} {m['unit']}")
    return "\n".join(lines) + "\n"


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
