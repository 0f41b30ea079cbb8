"""`sportcast projections rebuild analytics` against a running `sportcast up`, which holds the
DuckDB file: the stack rebuilds beside its live tables while its dashboard keeps answering,
switches in one transaction, and the tables then equal a build from zero (docs/adr/0035)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_analytics_projection import dump
from tests.running_stack import SPORTCAST, Stack
from tests.small_models import small_football_model

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Outside pytest's basetemp, which embedded PostgreSQL's own user may not enter.
    with tempfile.TemporaryDirectory(prefix="sportcast-analytics-rebuild-") as tmp:
        Path(tmp).chmod(0o755)
        yield Path(tmp)


def analytics_standing(stack: Stack) -> dict[str, tuple[int, int]]:
    """(position, head) per stream of the analytics projection, as `projections status`."""
    out = subprocess.run(
        [SPORTCAST, "projections", "status", "--json"],
        env=stack.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {
        r["stream"]: (int(r["position"]), int(r["head"]))
        for r in rows
        if r["projection"] == "analytics"
    }


def wait_caught_up(stack: Stack, timeout: float) -> dict[str, int]:
    """Positions once the analytics projection stands at both heads, twice in a row."""
    deadline = time.monotonic() + timeout
    last: dict[str, tuple[int, int]] = {}
    while time.monotonic() < deadline:
        now = analytics_standing(stack)
        done = len(now) == 2 and all(p == h > 0 for p, h in now.values())
        if done and now == last:
            return {stream: p for stream, (p, _) in now.items()}
        last = now
        time.sleep(1.0)
    raise AssertionError(f"analytics not caught up in {timeout:.0f} s: {last}")


def test_the_running_stack_rebuilds_analytics_while_its_dashboard_answers(
    state_dir: Path,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    model = state_dir / "football.cbm"
    model.write_bytes(small_football_model())
    stack = Stack(
        state_dir / "state",
        ARTIFACTS / "analytics-rebuild-stack.log",
        args=("--demo-speed", "0"),  # the test's own feed: one that ends
        extra_env={
            "SPORTCAST_MODEL_FILE": str(model),  # forecasts without the demo's champion
            "SPORTCAST_ANALYTICS_PAGE_EVENTS": "100",  # a rebuild of many steps
        },
    )
    answers: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def dashboard() -> None:
        url = f"{stack.base}/v1/dashboard/queries/feed_freshness"
        headers = {"X-API-Key": stack.key()}
        while not stop.is_set():
            r = httpx.get(url, params={"since": "0"}, headers=headers, timeout=30)
            rows = len(r.json().get("rows", [])) if r.status_code == 200 else -1
            answers.append((time.monotonic(), r.status_code, rows))
            time.sleep(0.05)

    asking = threading.Thread(target=dashboard)
    try:
        stack.start()
        stack.cli("feed", "simulate", "--teams", "4", "--seed", "3")
        before = wait_caught_up(stack, 120)
        asking.start()
        # The live tables move during the rebuild: a bigger league is played meanwhile.
        more = subprocess.Popen(
            [SPORTCAST, "feed", "simulate", "--teams", "6", "--seed", "5"],
            env=stack.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        began = time.monotonic()
        rebuilt = subprocess.run(
            [SPORTCAST, "projections", "rebuild", "analytics", "--within", "150"],
            env=stack.env(), capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        ended = time.monotonic()
        assert more.wait(timeout=120) == 0, more.communicate()[1]
        stop.set()
        asking.join(60)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "switched in at" in rebuilt.stdout
        after = wait_caught_up(stack, 120)
        from_zero = state_dir / "from-zero.duckdb"
        env = {**stack.env(), "SPORTCAST_ANALYTICS_DB": str(from_zero)}
        built = subprocess.run(
            [SPORTCAST, "analytics", "run", "--catch-up"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
    finally:
        stop.set()
        stack.stop()
    during = [a for a in answers if began <= a[0] <= ended]
    assert all(status == 200 for _, status, _ in answers), answers
    assert len(during) >= 3, f"{len(during)} answers during the rebuild"
    assert all(rows > 0 for _, _, rows in during)
    assert after["events"] > before["events"]
    live = dump(state_dir / "state" / "analytics.duckdb")
    assert dict(live["positions"]) == dict(dump(from_zero)["positions"])
    assert live == dump(from_zero)
