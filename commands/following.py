"""What a follower (a process following the feed) reports when one event cannot be processed:
the event's position and topic with the cause, so the failure can be found, fixed and resumed
(docs/adr/0017)."""

from __future__ import annotations


class FollowedEventFailed(Exception):
    def __init__(self, position: int, topic: str, cause: BaseException) -> None:
        super().__init__(f"event {position} ({topic}) failed: {type(cause).__name__}: {cause}")
        self.position = position
        self.topic = topic
        self.cause = cause  # kept apart: a runner re-raising with "from None" drops __cause__
