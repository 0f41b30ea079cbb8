"""`sportcast up --replay` against the real stack: a dataset's last tournament is the live feed,
its champion is trained from the tournaments before it on the first start and found in the
registry on the second; a data directory without the dataset is refused with its code."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.running_stack import SPORTCAST, Stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def data_dir() -> Path:
    found = Settings().data_dir.resolve()
    if not (found / "worldcup" / "goals.csv").exists():
        pytest.skip(f"no World Cup dataset at {found} (set SPORTCAST_DATA_DIR)")
    return found


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Outside pytest's basetemp, which embedded PostgreSQL's own user may not enter.
    with tempfile.TemporaryDirectory(prefix="sportcast-replay-") as tmp:
        Path(tmp).chmod(0o755)
        yield Path(tmp)


def test_a_data_directory_without_the_dataset_is_refused_with_its_code(state_dir: Path) -> None:
    empty = state_dir / "datasets"
    (empty / "nba").mkdir(parents=True)
    env = Stack(state_dir / "state", state_dir / "log").env()
    env["SPORTCAST_DATA_DIR"] = str(empty)
    done = subprocess.run(
        [SPORTCAST, "up", "--replay", "nba"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "[dataset-missing]" in done.stderr
    assert str(empty / "nba") in done.stderr
    assert not (state_dir / "state").exists()  # refused before anything started


def test_the_last_world_cup_is_the_live_feed_and_its_champion_is_trained_once(
    data_dir: Path, state_dir: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stack = Stack(
        state_dir / "state",
        ARTIFACTS / "replay-worldcup-stack.log",
        args=("--replay", "worldcup"),
        extra_env={"SPORTCAST_DATA_DIR": str(data_dir)},
    )
    try:
        stack.start()
        first = stack.first_forecast(150)  # trains the in-play champion on the first start
        assert first["sport"] == "football"
        assert str(first["kickoff"]).startswith("2019-")  # the women's World Cup 2019
        stack.stop()
        launched = time.monotonic()
        stack.start()
        stack.first_forecast(60)
        second_start = time.monotonic() - launched
        models = stack.cli("model", "list")
    finally:
        stack.stop()
    inplay = [line for line in models.splitlines() if "football-inplay-" in line]
    assert len(inplay) == 1, models  # trained on the first start only
    assert second_start < 60
