"""Stopping `sportcast serve projector` within a bound, saying where each projection stands.

Every page commits its rows with its position, so a stop loses nothing: the next start resumes
after the last page committed. A clean stop closes the event store's links and leaves; when
something still waits on a server that is gone (a read in flight when nats-server died), the
stop deadline ends the process anyway, with the same line about the committed positions.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from projections.runner import ProjectionRunner

log = logging.getLogger("sportcast.projections")

STOP_WITHIN = 20.0
"""Seconds from the stop request to the end of the process, at most."""


def committed(runner: ProjectionRunner) -> str:
    """Each projection's committed position per stream, e.g. ``fixtures events 12``."""
    return ", ".join(
        f"{status.name} {stream} {progress.position}"
        for status in runner.statuses.values()
        for stream, progress in status.streams.items()
    )


class StopDeadline:
    """Armed at the stop request; ends the process if it is still running ``within`` s later
    (a daemon timer: a process that ends first is not held by it)."""

    def __init__(self, runner: ProjectionRunner, within: float = STOP_WITHIN) -> None:
        self.runner = runner
        self.within = within
        self.asked = time.monotonic()
        self._timer = threading.Timer(within, self._expired)
        self._timer.daemon = True
        self._timer.start()

    def stopped(self) -> None:
        log.info(
            "projector stopped %.1f s after the stop request; committed: %s",
            time.monotonic() - self.asked,
            committed(self.runner),
        )

    def _expired(self) -> None:
        log.error(
            "projector stopped: still closing %g s after the stop request (a server it waits"
            " on is gone?), so it ends now; committed: %s",
            self.within,
            committed(self.runner),
        )
        logging.shutdown()
        os._exit(1)
