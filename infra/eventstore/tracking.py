"""What a process writer knows of the tracking positions recorded in its stream (ADR 0004).

Positions are recorded on the application's tracking subject or, for a one-event save, on the
event message; every save that records one expects the stream's last sequence, so positions are
stored in increasing order and the newest message carrying one holds the highest.
"""

from __future__ import annotations

import asyncio
from collections import deque

from infra.eventstore.heads import TrackingState
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import TRACKING, TRACKING_APP
from infra.eventstore.subjects import SubjectLayout

_SCAN_WINDOWS = (16, 128, 1000)  # messages read per step when looking back for a position


async def read_tracking_state(
    reader: DirectReader, layout: SubjectLayout, application_name: str
) -> TrackingState:
    """What ``application_name`` has recorded, read afresh: complete at least up to the
    stream's last sequence, which is read first."""
    last = await reader.last(layout.all_subjects)
    through = last.seq if last is not None else 0
    subject = layout.tracking(application_name)
    own = await reader.last(subject)
    notification_id = int(own.headers[TRACKING]) if own is not None else 0
    subject_seq = own.seq if own is not None else 0
    carried = await _newest_carried(
        reader, layout, application_name, after=subject_seq, upto=through
    )
    return TrackingState(max(notification_id, carried), subject_seq, through)


async def _newest_carried(
    reader: DirectReader, layout: SubjectLayout, application_name: str, *, after: int, upto: int
) -> int:
    """The position carried by the newest event message in (after, upto], or 0."""
    top = upto
    step = 0
    while top > after:
        window = _SCAN_WINDOWS[min(step, len(_SCAN_WINDOWS) - 1)]
        start = max(after + 1, top - window + 1)
        records = await reader.batch(
            subject=layout.events,
            start_seq=start,
            limit=top - start + 1,
            up_to_seq=top,
        )
        for record in reversed(records):
            if record.headers.get(TRACKING_APP) == application_name:
                return int(record.headers[TRACKING])
        top = start - 1
        step += 1
    return 0


class Turn:
    """One tracking save in flight per writer: each expects the stream's last sequence, so two
    at once would only refuse each other. Taken without waiting when free (the common case)."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        if self._held:
            return False
        self._held = True
        return True

    async def take(self) -> None:
        if self.try_take():
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give_back()  # handed over just as we were cancelled
            raise

    def give_back(self) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(None)  # the turn passes on; still held
                return
        self._held = False
