"""Freezing a server process the way a silent server looks to its clients.

``kill(pid, SIGSTOP)`` returns before every thread of the process has stopped: a thread running
on the other core goes on for a moment (seen: nats-server answering a read sent ~1 ms after the
kill). ``freeze`` returns only once every thread is in the stopped state.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def freeze(pid: int, *, within: float = 10.0) -> None:
    """Stop ``pid`` and wait until all its threads are stopped."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + within
    while not _all_stopped(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} not stopped {within} s after SIGSTOP")
        time.sleep(0.001)


def thaw(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)


def _all_stopped(pid: int) -> bool:
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
        # "pid (comm) S ...": the state follows the last ')' (comm may hold spaces or parens).
        if stat[stat.rindex(")") + 2] not in "tT":
            return False
    return True
