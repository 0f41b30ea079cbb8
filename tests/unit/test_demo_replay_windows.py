"""What `sportcast up --replay` plays live and trains on, from the real dataset files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.demo_replay import DatasetMissing, DatasetReplay, ReplaySource, check_dataset

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))


def test_a_data_directory_without_the_source_is_refused_with_its_code(tmp_path: Path) -> None:
    (tmp_path / "worldcup").mkdir()
    with pytest.raises(DatasetMissing) as missing:
        check_dataset(tmp_path, ReplaySource.WORLDCUP)
    assert missing.value.code == "dataset-missing"
    assert str(tmp_path / "worldcup") in str(missing.value)


@pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}")
def test_the_last_world_cup_plays_live_and_the_ones_before_train() -> None:
    check_dataset(DATA, ReplaySource.WORLDCUP)
    replay = DatasetReplay(DATA, ReplaySource.WORLDCUP)
    live, history = replay.live(), replay.history()
    assert {m.group for m in live} == {"2019 FIFA Women's World Cup"}
    assert max(m.at for m in history) < min(m.at for m in live)
    assert not {m.partition for m in live} & {m.partition for m in history}
    assert len({m.group for m in history}) > 10  # every tournament before it
    assert live[0].kind == "fixture"  # announced ahead: played at once before the matches
