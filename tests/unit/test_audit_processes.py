"""How many processes `audit verify --store-dir` uses when none is configured: every core
unless the load is at twice the cores (infra/audit/from_blocks.py), and how it cuts the
blocks into runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.audit.from_blocks import runs, split_processes


@pytest.mark.parametrize(
    ("cpus", "load", "expected"),
    [(2, 0.0, 2), (2, 3.4, 2), (2, 4.0, 1), (2, 8.5, 1), (8, 10.0, 8), (8, 16.0, 1), (1, 0.0, 1)],
)
def test_every_core_unless_the_load_is_twice_the_cores(
    cpus: int, load: float, expected: int
) -> None:
    assert split_processes(cpus, load) == expected


def test_runs_are_contiguous_and_of_about_equal_size(tmp_path: Path) -> None:
    blocks = []
    for i, size in enumerate([8, 8, 8, 8, 8, 8, 3], start=1):
        block = tmp_path / f"{i}.blk"
        block.write_bytes(b"x" * size)
        blocks.append(block)
    for processes in (1, 2, 3, 9):
        cut = runs(blocks, processes)
        assert [b for run in cut for b in run] == blocks  # in order, each once
        assert len(cut) == min(processes, len(blocks))
        sizes = [sum(b.stat().st_size for b in run) for run in cut]
        assert max(sizes) - min(sizes) <= 16, (processes, sizes)
    assert runs([], 2) == [[]]
