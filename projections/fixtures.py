"""Fixtures read model: one row per fixture with its status, live score, minute and period."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.fixture import Fixture
from domain.status import FixtureStatus
from projections.postgres import PostgresProjection
from projections.stored import as_uuid, moment, optional_moment, score, state_of
from readmodels.postgres import bulk
from readmodels.postgres.schemas import quoted

EVENTS = "events"
COLUMNS = (
    "fixture_id",
    "sport",
    "competition",
    "season",
    "home",
    "away",
    "kickoff",
    "venue",
    "venue_country",
    "status",
    "started_at",
    "home_score",
    "away_score",
    "minute",
    "stoppage",
    "period",
    "result_home",
    "result_away",
    "called_off_reason",
    "corrections",
    "position",
)
Row = dict[str, Any]
Apply = Callable[[Row, dict[str, Any]], None]


def _scheduled(row: Row, s: dict[str, Any]) -> None:
    row.update(
        sport=s["sport"],
        competition=s["competition"],
        season=s["season"],
        home=s["home"],
        away=s["away"],
        kickoff=moment(s["kickoff"]),
        venue=s.get("venue"),
        venue_country=s.get("venue_country"),  # None in a version-1 state
        status=str(FixtureStatus.SCHEDULED),
        started_at=None,
        home_score=0,
        away_score=0,
        minute=None,
        stoppage=None,
        period=None,
        result_home=None,
        result_away=None,
        called_off_reason=None,
        corrections=0,
    )


def _rescheduled(row: Row, s: dict[str, Any]) -> None:
    row.update(
        kickoff=moment(s["kickoff"]),
        venue=s.get("venue"),
        venue_country=s.get("venue_country"),
        status=str(FixtureStatus.SCHEDULED),
        called_off_reason=None,
    )


def _called_off(status: FixtureStatus) -> Apply:
    def apply(row: Row, s: dict[str, Any]) -> None:
        row.update(status=str(status), called_off_reason=s.get("reason"))

    return apply


def _started(row: Row, s: dict[str, Any]) -> None:
    row.update(status=str(FixtureStatus.IN_PLAY), started_at=optional_moment(s.get("started_at")))


def _goal(row: Row, s: dict[str, Any]) -> None:
    row["home_score"], row["away_score"] = score(s["score"])
    row.update(minute=int(s["minute"]), stoppage=int(s["stoppage"]))


def _card(row: Row, s: dict[str, Any]) -> None:
    row.update(minute=int(s["minute"]), stoppage=int(s["stoppage"]))


def _period_ended(row: Row, s: dict[str, Any]) -> None:
    row["home_score"], row["away_score"] = score(s["score"])
    row["period"] = int(s["period"])


def _finished(row: Row, s: dict[str, Any]) -> None:
    home, away = score(s["score"])
    row.update(
        status=str(FixtureStatus.FINISHED),
        home_score=home,
        away_score=away,
        result_home=home,
        result_away=away,
    )


def _corrected(row: Row, s: dict[str, Any]) -> None:
    _finished(row, s)
    row["corrections"] = int(row.get("corrections") or 0) + 1


APPLY: dict[str, Apply] = {
    get_topic(Fixture.Scheduled): _scheduled,
    get_topic(Fixture.Rescheduled): _rescheduled,
    get_topic(Fixture.Postponed): _called_off(FixtureStatus.POSTPONED),
    get_topic(Fixture.Abandoned): _called_off(FixtureStatus.ABANDONED),
    get_topic(Fixture.Started): _started,
    get_topic(Fixture.GoalScored): _goal,
    get_topic(Fixture.CardShown): _card,
    get_topic(Fixture.PeriodEnded): _period_ended,
    get_topic(Fixture.Finished): _finished,
    get_topic(Fixture.ResultCorrected): _corrected,
}
SCHEDULED = get_topic(Fixture.Scheduled)


def fold(rows: dict[UUID, Row], notifications: Sequence[Notification]) -> dict[UUID, Row]:
    """Apply ``notifications`` to ``rows`` (the stored rows of the fixtures they touch);
    returns the rows changed, by fixture id."""
    changed: dict[UUID, Row] = {}
    for n in notifications:
        fixture_id = as_uuid(n.originator_id)
        row = rows.get(fixture_id)
        if row is None:
            if n.topic != SCHEDULED:
                raise LookupError(f"fixture {fixture_id} has event {n.id} but was never scheduled")
            row = rows[fixture_id] = {"fixture_id": fixture_id}
        APPLY[n.topic](row, state_of(n.state))
        row["position"] = n.id
        changed[fixture_id] = row
    return changed


class FixturesProjection(PostgresProjection):
    name = "fixtures"
    topics = {EVENTS: tuple(APPLY)}

    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> set[str]:
        """Returns the fixtures written."""
        created = {as_uuid(n.originator_id) for n in notifications if n.topic == SCHEDULED}
        known = {as_uuid(n.originator_id) for n in notifications} - created
        rows: dict[UUID, Row] = {}
        if known:
            stored = await conn.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM {quoted(self.schema)}.fixtures"
                " WHERE fixture_id = ANY($1::uuid[])",
                list(known),
            )
            rows = {r["fixture_id"]: dict(r) for r in stored}
        changed = fold(rows, notifications)
        await bulk.upsert(
            conn,
            self.schema,
            "fixtures",
            COLUMNS,
            ("fixture_id",),
            ([row[c] for c in COLUMNS] for row in changed.values()),
        )
        return {str(fixture) for fixture in changed}
