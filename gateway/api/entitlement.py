"""The caller's plan applied to reads: as a filter for listings, as a gate for one fixture."""

from __future__ import annotations

from uuid import UUID

from domain.access import Principal
from gateway.access.refusals import NotEntitled
from gateway.api.ports import ReadModels
from gateway.problems import Problem
from readmodels.postgres.api_queries import Visibility
from readmodels.postgres.queries import FixtureRow


class FixtureNotFound(Problem):
    status = 404
    code = "fixture-not-found"
    title = "No such fixture"


def visibility(principal: Principal) -> Visibility:
    plan = principal.plan
    return Visibility(
        everything=plan.everything,
        sports=tuple(sorted(plan.sports)),
        competitions=tuple(sorted(f"{s}/{c}" for s, c in plan.competitions)),
    )


def check_entitled(principal: Principal, sport: str, competition: str) -> None:
    if not principal.allows(sport, competition):
        raise NotEntitled(
            f"{principal.subject}'s plan does not cover {sport}/{competition}",
            sport=sport,
            competition=competition,
        )


async def visible_fixture(reads: ReadModels, principal: Principal, fixture_id: UUID) -> FixtureRow:
    """The fixture if the caller's plan covers it: 404 when there is none, 403 when not covered."""
    row = await reads.fixture(fixture_id)
    if row is None:
        raise FixtureNotFound(f"no fixture {fixture_id}")
    check_entitled(principal, row.sport, row.competition)
    return row
