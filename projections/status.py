"""What the runner says about each projection: for /readyz, metrics and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ProjectionState(StrEnum):
    STARTING = "starting"  # migrating, reading its positions
    CATCHING_UP = "catching-up"  # events wait beyond its position
    LIVE = "live"  # at the head of every stream it follows
    FAILED = "failed"  # stopped on an event: see error and the position
    STOPPED = "stopped"


@dataclass
class StreamProgress:
    position: int = 0
    head: int = 0
    behind_since: float | None = None
    """Monotonic time the projection last went from caught up to behind (None: caught up)."""

    @property
    def lag_events(self) -> int:
        return max(self.head - self.position, 0)


@dataclass
class ProjectionStatus:
    name: str
    state: ProjectionState = ProjectionState.STARTING
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    error: str | None = None
    failed_stream: str | None = None
    failed_position: int | None = None
    """The position the projection stands at: the failing event lies after it."""
    events_applied: int = 0

    @property
    def ready(self) -> bool:
        """Serving and not failed (a projection catching up serves older, complete rows)."""
        return self.state in (ProjectionState.LIVE, ProjectionState.CATCHING_UP)

    def lag_seconds(self, now: float) -> float:
        behind = [p.behind_since for p in self.streams.values() if p.behind_since is not None]
        return now - min(behind) if behind else 0.0

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "name": self.name,
            "state": str(self.state),
            "streams": {
                s: {"position": p.position, "head": p.head, "lag_events": p.lag_events}
                for s, p in self.streams.items()
            },
            "lag_seconds": round(self.lag_seconds(now), 3),
            "events_applied": self.events_applied,
            "error": self.error,
            "failed_stream": self.failed_stream,
            "failed_position": self.failed_position,
        }
