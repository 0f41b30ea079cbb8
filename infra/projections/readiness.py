"""What /readyz says of the projections, as (ready, detail); wired in infra/bootstrap.py."""

from __future__ import annotations

import time
from collections.abc import Mapping

import asyncpg

from projections.runner import ProjectionRunner
from projections.status import ProjectionState
from readmodels.postgres.consistency import lowest_positions
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


async def behind_elsewhere(conn: asyncpg.Connection, heads: Mapping[str, int]) -> str:
    """With the projector in another process: per stream whose head is known, how many events
    the furthest-behind live projection has not applied (from the positions the projections
    commit with their rows)."""
    lowest = await lowest_positions(conn, sorted(heads))
    return ", ".join(
        f"{stream} {max(head - lowest.get(stream, 0), 0)} events behind"
        for stream, head in sorted(heads.items())
    )
