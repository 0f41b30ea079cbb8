"""The long-running commands' logging (infra/process_logging.py), in a fresh interpreter each
(logging is process-wide state: configuring it here would change every later test's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.process_logging import UnknownLogLevel, configure_logging

SCRIPT = """
import logging, sys
from infra.process_logging import configure_logging
configure_logging(sys.argv[1])
configure_logging(sys.argv[1])  # twice: still one line per record
logging.getLogger("sportcast.eventstore").info("event store on nats://x: reads through ours")
logging.getLogger("sportcast.forecaster").debug("a debug line")
logging.getLogger("httpx").info("HTTP Request: GET http://x 200 OK")
logging.getLogger("httpx").warning("a library's warning")
logging.getLogger("sportcast.refusals").info('{"event":"refused","status":422}')
print("stdout stays clean")
"""


def run(level: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, level], capture_output=True, text=True, timeout=60
    )


def test_info_lines_go_to_stderr_as_text_and_refusals_as_bare_json() -> None:
    done = run("info")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stdout stays clean\n"
    lines = done.stderr.splitlines()
    assert len(lines) == 3, lines
    ours, library, refusal = lines
    assert ours.endswith(" INFO sportcast.eventstore: event store on nats://x: reads through ours")
    assert library.endswith(" WARNING httpx: a library's warning")  # its INFO lines are not
    assert json.loads(refusal) == {"event": "refused", "status": 422}


def test_the_level_setting_reaches_our_loggers_only() -> None:
    lines = run("DEBUG").stderr.splitlines()
    assert any(line.endswith("DEBUG sportcast.forecaster: a debug line") for line in lines)
    assert not any("HTTP Request" in line for line in lines)
    quiet = run("WARNING").stderr.splitlines()
    assert [line.split(" ", 3)[-1] for line in quiet] == ["httpx: a library's warning"]


def test_an_unknown_level_is_refused_with_its_code() -> None:
    with pytest.raises(UnknownLogLevel, match="SPORTCAST_LOG_LEVEL='LOUD'") as refused:
        configure_logging("LOUD")
    assert refused.value.code == "log-level-unknown"
