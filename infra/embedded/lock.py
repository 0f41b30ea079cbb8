"""One stack per data directory: an exclusive lock taken before anything in it is touched.

``flock`` on ``<data dir>/sportcast.lock``: the kernel releases it when the holder exits, however
it exits (SIGKILL included), so a crashed stack never leaves a stale lock behind. The holder's
pid is written into the file, for the message the next one prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO


class DataDirInUse(RuntimeError):
    code = "data-dir-in-use"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "sportcast.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataDirInUse(
                f"{self.path.parent} is in use by sportcast (pid {holder}); stop it first, or"
                " start this one with another --data-dir / SPORTCAST_STATE_DIR"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
