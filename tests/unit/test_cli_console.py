"""CLI output that is not a terminal is never cut to an imagined screen width."""

from __future__ import annotations

import io
import json

import pytest
from rich.table import Table

from infra.cli_console import console, print_json


def test_a_wide_table_piped_to_a_file_keeps_every_cell_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    piped = io.StringIO()  # not a terminal
    monkeypatch.setattr("sys.stdout", piped)
    out = console()
    table = Table("model", "artifact")
    long_id = "football-inplay-" + "0123456789ab" * 3
    table.add_row(long_id, "f" * 64)
    out.print(table)
    text = piped.getvalue()
    assert long_id in text
    assert "f" * 64 in text
    assert "…" not in text


def test_json_output_is_one_document(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    print_json({"total": 3, "held": [{"seq": 1}]})
    assert json.loads(piped.getvalue()) == {"total": 3, "held": [{"seq": 1}]}
