"""Read-your-writes on the REST API: a read may ask to see the read models at least as they
are after given positions of the event store, e.g. the ``notification_ids`` an ingest ``202``
returned: ``?min_position=events:1234`` (repeatable; ``forecasts:N`` for the forecast stream).

The read then waits, at most ``max_wait`` seconds (default 2, at most 10), until every live
projection following that stream has committed the position (``ProjectionWaits``: woken by
the projections' commit notices, docs/adr/0040), and answers from the read models as usual.
Not reached in time: 503 problem+json ``read-models-behind`` with ``Retry-After`` and the
positions asked for, never an answer older than asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Protocol

from fastapi import Query, Request
from pydantic import StringConstraints

from gateway.problems import Problem, ServiceUnavailable

STREAMS = ("events", "forecasts")
"""The streams a position may name: the feed's events and the forecasts."""
DEFAULT_WAIT = 2.0
MAX_WAIT = 10.0

Position = Annotated[str, StringConstraints(pattern=rf"^({'|'.join(STREAMS)}):[0-9]{{1,18}}$")]
MinPositionParam = Annotated[
    list[Position] | None,
    Query(
        description="Read your writes: answer only once the read models have applied this "
        "position of the event store, `events:N` (the notification ids an ingest 202 returned) "
        "or `forecasts:N`; repeatable. Waits at most `max_wait` seconds, then 503 "
        "`read-models-behind`.",
        examples=["events:1234"],
    ),
]
MaxWaitParam = Annotated[
    float,
    Query(gt=0, le=MAX_WAIT, description="Seconds a `min_position` read may wait (at most 10)."),
]


class ProjectionWaits(Protocol):
    """Waits until the live projections have applied positions (readmodels.postgres.consistency
    provides it)."""

    async def wait_for(self, targets: Mapping[str, int], *, within: float) -> bool: ...


class ReadModelsBehind(Problem):
    status = 503
    code = "read-models-behind"
    title = "The read models have not reached the position asked for"


def targets_of(min_position: list[str]) -> dict[str, int]:
    """``["events:12", "events:15", "forecasts:3"]`` -> ``{"events": 15, "forecasts": 3}``."""
    targets: dict[str, int] = {}
    for entry in min_position:
        stream, _, position = entry.partition(":")
        targets[stream] = max(targets.get(stream, 0), int(position))
    return targets


async def read_after(request: Request, min_position: list[str] | None, max_wait: float) -> bool:
    """Wait until the read models have applied ``min_position`` (True: a wait was asked and it
    ended in time; False: none was asked); raise ``read-models-behind`` after ``max_wait``."""
    if not min_position:
        return False
    waits: ProjectionWaits | None = getattr(request.app.state, "projection_waits", None)
    if waits is None:
        raise ServiceUnavailable(
            "read-your-writes waits are not available: the read models are not connected",
            service="read-models",
        )
    targets = targets_of(min_position)
    if not await waits.wait_for(targets, within=max_wait):
        asked = ",".join(f"{s}:{p}" for s, p in sorted(targets.items()))
        raise ReadModelsBehind(
            f"the read models have not applied {asked} within {max_wait:g} s; retry, or read "
            "without min_position to get what they hold now",
            headers={"Retry-After": "1"},
            min_position=asked,
        )
    return True
