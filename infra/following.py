"""Followers that one event cannot stop for good (docs/adr/0017).

eventsourcing's projection runner ends its processing thread on the first error and re-raises
it on exit. :class:`ResumingRunner` watches the runner it opened: when the runner has failed it
records the failure (the position processed up to, and the failing event's position and topic
when the follower reports them with :class:`~commands.following.FollowedEventFailed`), logs it
once, and opens a new runner after a back-off. A new runner starts after the tracked position,
so the failed event is tried again, never skipped: a transient cause (the store was down) heals
by itself, a poison event waits, visible in :attr:`failure`, until the code is fixed and the
process restarted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from commands.following import FollowedEventFailed
from infra.observed import Observed

log = logging.getLogger("sportcast.following")
MAX_RETRY_SECONDS = 60.0
_RUNNERS: Observed[ResumingRunner] = Observed()


class Runner(Protocol):
    def run_forever(self, timeout: float | None = None) -> None: ...

    def __exit__(self, *exc: Any) -> None: ...


@dataclass(frozen=True)
class FollowerFailure:
    follower: str
    after: int
    """The position processed up to: the follower resumes after it."""
    position: int | None
    """The event that failed, when known (else: one after ``after``, or the reading itself)."""
    topic: str | None
    error: str
    since: datetime
    attempts: int = 1

    def describe(self) -> str:
        at = f"event {self.position} ({self.topic})" if self.position else f"after {self.after}"
        return f"{self.follower} stopped at {at}: {self.error} (attempt {self.attempts})"


class ResumingRunner:
    """``open_runner`` opens (enters) a runner; ``position`` reads the position it tracked."""

    def __init__(
        self,
        name: str,
        open_runner: Callable[[], Runner],
        position: Callable[[], int],
        *,
        retry: float = 1.0,
        poll: float = 0.5,
    ) -> None:
        self.name = name
        self._open_runner = open_runner
        self._position = position
        self.retry = retry
        self.poll = poll
        self.runner: Runner | None = None
        self.failure: FollowerFailure | None = None
        self.resumed = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        _RUNNERS.add(self)  # observed by the gauges below while it runs, not once stopped
        self._stopping.clear()
        self.runner = self._open_runner()
        self._watcher = threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        self._close()
        _RUNNERS.discard(self)

    def _watch(self) -> None:
        delay = self.retry
        while not self._stopping.wait(self.poll):
            if self.runner is not None:
                try:
                    self.runner.run_forever(timeout=0)  # re-raises the thread's error, if any
                except Exception as exc:
                    self._record(exc)
                    self._close()
                else:
                    if self.failure is not None and self._past_failure():
                        log.warning("%s resumed past position %s", self.name, self.failure.after)
                        self.failure = None
                        delay = self.retry
                    continue
            if self._stopping.wait(delay):
                return
            try:
                self.runner = self._open_runner()
                self.resumed += 1
            except Exception as exc:
                self._record(exc)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _past_failure(self) -> bool:
        """The failed event is processed (its position tracked), or, when the failure named
        no event, the follower moved past where it stood."""
        failure = self.failure
        assert failure is not None
        with contextlib.suppress(Exception):
            if failure.position is not None:
                return self._position() >= failure.position
            return self._position() > failure.after
        return False

    def _record(self, exc: BaseException) -> None:
        previous = self.failure
        after = previous.after if previous else 0
        with contextlib.suppress(Exception):
            after = self._position()
        failed = exc if isinstance(exc, FollowedEventFailed) else None
        cause = failed.cause if failed else exc
        error = f"{type(cause).__name__}: {cause}"
        if previous is not None and previous.error == error and previous.after == after:
            self.failure = replace(previous, attempts=previous.attempts + 1)
            return  # logged already: once per distinct failure, not per attempt
        self.failure = FollowerFailure(
            follower=self.name,
            after=after,
            position=failed.position if failed else None,
            topic=failed.topic if failed else None,
            error=error,
            since=datetime.now(UTC),
        )
        # A poison event's traceback is what a fix needs; a store outage's is noise.
        log.error("%s; retrying with back-off", self.failure.describe(), exc_info=failed)

    def _close(self) -> None:
        runner, self.runner = self.runner, None
        if runner is None:
            return
        try:
            runner.__exit__(None, None, None)  # re-raises the thread's error, if still held
        except Exception as exc:
            self._record(exc)


def _stopped(_: CallbackOptions) -> Iterable[Observation]:
    for runner in _RUNNERS:
        yield Observation(int(runner.failure is not None), {"follower": runner.name})


def _failed_at(_: CallbackOptions) -> Iterable[Observation]:
    for runner in _RUNNERS:
        failure = runner.failure
        if failure is not None:
            yield Observation(failure.position or failure.after, {"follower": runner.name})


def _resumed(_: CallbackOptions) -> Iterable[Observation]:
    for runner in _RUNNERS:
        yield Observation(runner.resumed, {"follower": runner.name})


_METER = metrics.get_meter("sportcast.following")
_METER.create_observable_gauge(
    "sportcast.follower.stopped", [_stopped], description="1 while stopped at a failed event"
)
_METER.create_observable_gauge(
    "sportcast.follower.failed_position",
    [_failed_at],
    description="Where a stopped follower waits: the failed event's position (else the tracked)",
)
_METER.create_observable_gauge(
    "sportcast.follower.resumed", [_resumed], description="Runners reopened after a failure"
)


def describe_failures(failures: Iterable[FollowerFailure | None]) -> tuple[bool, str]:
    """What /readyz says of the followers: not ready while one is stopped at an event."""
    failures = list(failures)
    if not failures:
        return True, "no follower runs in this process"
    stopped = [f.describe() for f in failures if f is not None]
    if stopped:
        return False, "; ".join(stopped)
    return True, "no follower is stopped"
