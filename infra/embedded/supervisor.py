"""Keeps the embedded stack's children running: a child that exits is restarted with back-off;
one that cannot be restarted stops the stack with a clear message (docs/adr/0017).

Polls each child's exit status (``Popen.poll``, no signals to race with). Restarts go through
the child's own ``start``, the same checks as the first start (port free, ready in time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("sportcast.supervisor")

MAX_DELAY = 30.0


class Child(Protocol):
    def exit_code(self) -> int | None:
        """The code it exited with; None while it runs (or was never started)."""
        ...

    def start(self) -> None: ...


@dataclass(frozen=True)
class Supervised:
    name: str
    child: Child


class Supervisor:
    """``report`` is told each restart; ``give_up`` is called once, with the reason, when a
    child could not be restarted ``max_restarts`` times in a row (the caller stops the stack)."""

    def __init__(
        self,
        children: Sequence[Supervised],
        *,
        report: Callable[[str], None],
        give_up: Callable[[str], None],
        backoff: float = 1.0,
        max_restarts: int = 5,
        poll: float = 0.25,
    ) -> None:
        self.children = list(children)
        self.report = report
        self.give_up = give_up
        self.backoff = backoff
        self.max_restarts = max_restarts
        self.poll = poll
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll):
            for each in self.children:
                code = each.child.exit_code()
                if code is None:
                    continue
                if not self._restart(each, code):
                    return

    def _restart(self, each: Supervised, code: int) -> bool:
        last = f"exited with code {code}"
        for attempt in range(1, self.max_restarts + 1):
            delay = min(self.backoff * 2 ** (attempt - 1), MAX_DELAY)
            self.report(
                f"{each.name} {last}; restarting {each.name} in {delay:g} s"
                f" (attempt {attempt} of {self.max_restarts})"
            )
            if self._stopping.wait(delay):
                return False
            try:
                each.child.start()
            except Exception as exc:  # a failed start is what back-off is for
                last = f"could not be restarted: {exc}"
                log.debug("restart of %s failed", each.name, exc_info=True)
                continue
            self.restarts += 1
            self.report(f"{each.name} restarted")
            return True
        self.give_up(
            f"{each.name} exited with code {code} and could not be restarted"
            f" in {self.max_restarts} attempts ({last}); stopping the stack"
        )
        return False
