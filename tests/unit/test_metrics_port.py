"""A service's metrics port that cannot be had is one line with its code, not a traceback."""

from __future__ import annotations

import socket

import pytest
import typer

from infra.cli_common import serve_metrics
from infra.settings import Settings


def test_a_taken_metrics_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(typer.Exit) as exited:
            serve_metrics(Settings(metrics_port=port), "sportcast-projector")
    assert exited.value.exit_code == 2
    said = capsys.readouterr().err
    assert "[metrics-port-unavailable]" in said
    assert f"127.0.0.1:{port}" in said
