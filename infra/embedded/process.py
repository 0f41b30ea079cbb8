"""Child-process supervision shared by the embedded services."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If sportcast is killed outright (SIGKILL), the kernel sends SIGTERM to the child.
    with contextlib.suppress(OSError):  # not Linux: best effort only
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    user: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a service in its own session so a terminal Ctrl-C reaches sportcast first;
    sportcast then stops its children in order."""
    log = log_path.open("ab")
    preexec: Callable[[], None] = _die_with_parent
    return subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=preexec,
        user=user,
        env={**os.environ, **(env or {})},
    )


def stop(process: subprocess.Popen[bytes], *, sig: int, timeout: float) -> None:
    """Ask a child to stop with ``sig``; kill it if it has not exited within ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
