"""The projector's stop deadline: a process still held after the stop request (a thread
waiting on a server that is gone) is ended once the deadline passes, with a line that says so
and where each projection's committed position stands."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

HELD = textwrap.dedent(
    """
    import logging, threading, types
    from infra.projections.stopping import StopDeadline
    from projections.status import ProjectionStatus, StreamProgress

    logging.basicConfig(level=logging.INFO)
    status = ProjectionStatus("fixtures", streams={"events": StreamProgress(position=7)})
    runner = types.SimpleNamespace(statuses={"fixtures": status})
    threading.Thread(target=threading.Event().wait).start()  # never ends: holds the exit
    StopDeadline(runner, within=0.5)
    """
)


def test_a_process_held_past_the_stop_deadline_ends_saying_where_it_stood() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", HELD], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 30
    assert "projector stopped: still closing 0.5 s after the stop request" in done.stderr
    assert "committed: fixtures events 7" in done.stderr
