"""What auditors read over HTTP (scope ``audit:read``): a fixture's story as the event log
holds it, read from the log itself, not from the read models.

``GET /v1/audit/fixtures/{id}/timeline`` is ``sportcast audit timeline --json`` over HTTP: the
fixture's feed events, odds moves, forecasts (model, prior, edge), result and settlement, in
order, each with its stream position and time. The caller's plan applies as on every read (the
fixture's sport and competition from the fixtures read model: 404 / 403 as there). The
whole-log check and the re-derivation stay in the CLI (``sportcast audit verify``), which needs
the model artifacts and minutes of CPU, not a request (docs/adr/0021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.api.entitlement import FixtureNotFound, visible_fixture
from gateway.deps import Auditor, ReadModelsDep
from gateway.problems import ServiceUnavailable

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@dataclass(frozen=True)
class FixtureStory:
    title: str
    entries: list[dict[str, Any]]
    """Each: ``stream``, ``position``, ``at``, ``kind`` and the event's own fields."""


class FixtureTimelines(Protocol):
    """Reads a fixture's story from the event log (the composition root supplies it)."""

    async def story(self, fixture_id: UUID) -> FixtureStory | None:
        """None when the log holds no event of the fixture."""
        ...


class FixtureTimelinePublic(BaseModel):
    fixture_id: UUID
    title: str
    entries: list[dict[str, Any]]
    """In order: feed events, odds moves, forecasts, result, settlement; each with its stream,
    position, time, kind and fields (what `sportcast audit timeline --json` prints)."""


@router.get("/fixtures/{fixture_id}/timeline", response_model=FixtureTimelinePublic)
async def fixture_timeline(
    fixture_id: UUID, principal: Auditor, reads: ReadModelsDep, request: Request
) -> FixtureTimelinePublic:
    """The ordered story of one fixture as the event log holds it (scope `audit:read`)."""
    await visible_fixture(reads, principal, fixture_id)
    timelines: FixtureTimelines | None = getattr(request.app.state, "fixture_timelines", None)
    if timelines is None:
        raise ServiceUnavailable("the event log is not connected", service="event-log")
    story = await timelines.story(fixture_id)
    if story is None:
        raise FixtureNotFound(f"the log holds no event of fixture {fixture_id}")
    return FixtureTimelinePublic(fixture_id=fixture_id, title=story.title, entries=story.entries)
