"""What /readyz says of the projections, as (ready, detail); wired in infra/bootstrap.py."""

from __future__ import annotations

import time

from projections.runner import ProjectionRunner
from projections.status import ProjectionState
from readmodels.postgres.positions import Failure


def describe_failure(f: Failure) -> str:
    return f"{f.projection} failed after {f.stream} {f.position}: {f.error}"


def projector_readiness(runner: ProjectionRunner) -> tuple[bool, str]:
    """From the runner in this process: failed or starting projections make it not ready."""
    statuses = list(runner.statuses.values())
    failed = [s for s in statuses if s.state == ProjectionState.FAILED]
    if failed:
        return False, "; ".join(
            f"{s.name} failed after {s.failed_stream} {s.failed_position}: {s.error}"
            for s in failed
        )
    starting = [s.name for s in statuses if s.state == ProjectionState.STARTING]
    if starting:
        return False, f"starting: {', '.join(starting)}"
    now = time.monotonic()
    lag = max((s.lag_seconds(now) for s in statuses), default=0.0)
    behind = sum(p.lag_events for s in statuses for p in s.streams.values())
    return True, f"{len(statuses)} projections, {behind} events behind, {lag:.1f} s"
