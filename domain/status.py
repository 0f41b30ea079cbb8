"""Where a fixture is in its life."""

from __future__ import annotations

from enum import StrEnum


class FixtureStatus(StrEnum):
    SCHEDULED = "scheduled"
    POSTPONED = "postponed"
    IN_PLAY = "in-play"
    FINISHED = "finished"
    ABANDONED = "abandoned"

    @property
    def has_result(self) -> bool:
        """No more play will happen: the result is in or the match was called off."""
        return self in (FixtureStatus.FINISHED, FixtureStatus.ABANDONED)
