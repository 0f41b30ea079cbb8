"""Each ingest payload becomes its command field for field: the mapping is by name, so a payload
field without a command field (or a required command field the payload lacks) fails here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from commands.fixture import RecordGoal, ScheduleFixture
from commands.odds import RecordOdds
from domain.provenance import Provenance
from domain.score import Score
from gateway.ingest.schemas import (
    CommandIn,
    FinishedIn,
    GoalIn,
    OddsIn,
    ScheduledIn,
    command_from_json,
    to_command,
)

PROVENANCE = Provenance(source="acme", received_at=datetime(2025, 1, 1, tzinfo=UTC))
ENVELOPE = {"type", "event_id", "fixture_id", "fixture"}
RENAMED = {"bookmaker": "source"}


def concrete(cls: type[CommandIn]) -> list[type[CommandIn]]:
    found = []
    for sub in cls.__subclasses__():
        if "command_type" in sub.__dict__:
            found.append(sub)
        found.extend(concrete(sub))
    return found


@pytest.mark.parametrize("payload", concrete(CommandIn), ids=lambda c: c.__name__)
def test_payload_fields_are_its_commands_fields(payload: type[CommandIn]) -> None:
    command = payload.command_type
    assert isinstance(command, type)
    assert dataclasses.is_dataclass(command)
    fields = {f.name: f for f in dataclasses.fields(command)}
    given = {RENAMED.get(n, n) for n in payload.model_fields if n not in ENVELOPE}
    if "fixture_id" in payload.model_fields:
        given.add("fixture_id")
    assert given <= fields.keys() - {"idempotency_key", "provenance"}
    required = {
        n
        for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required - {"idempotency_key", "provenance"} <= given


def test_a_goal_becomes_record_goal_with_every_value() -> None:
    target = uuid4()
    goal = GoalIn(type="goal", fixture_id=target, side="away", minute=90, stoppage=3, own_goal=True)
    assert to_command(goal, key="k", provenance=PROVENANCE, source="acme") == RecordGoal(
        idempotency_key="k",
        provenance=PROVENANCE,
        fixture_id=target,
        side=goal.side,
        minute=90,
        stoppage=3,
        player=None,
        own_goal=True,
        penalty=False,
    )


def test_a_score_and_a_natural_key_are_translated() -> None:
    kickoff = datetime(2025, 5, 1, 19, tzinfo=UTC)
    scheduled = ScheduledIn.model_validate(
        {
            "type": "scheduled",
            "sport": "football",
            "competition": "Premier League",
            "season": "2024-2025",
            "home": "Arsenal",
            "away": "Chelsea",
            "kickoff": kickoff,
            "venue_country": "England",
        }
    )
    schedule = to_command(scheduled, key="s", provenance=PROVENANCE, source="acme")
    assert isinstance(schedule, ScheduleFixture)
    assert (schedule.venue, schedule.venue_country) == (None, "England")
    finished = FinishedIn.model_validate(
        {
            "type": "finished",
            "fixture": {
                "sport": "football",
                "competition": "Premier League",
                "kickoff": kickoff,
                "home": "Arsenal",
                "away": "Chelsea",
            },
            "score": {"home": 2, "away": 1},
        }
    )
    finish = to_command(finished, key="f", provenance=PROVENANCE, source="acme")
    assert finish.fixture_id == schedule.fixture_id
    assert finish.score == Score(2, 1)  # type: ignore[union-attr]


@pytest.mark.parametrize(("bookmaker", "source"), [(None, "acme"), ("pinnacle", "pinnacle")])
def test_odds_are_the_relayed_bookmakers_else_the_providers(
    bookmaker: str | None, source: str
) -> None:
    odds = OddsIn.model_validate(
        {
            "fixture_id": str(uuid4()),
            "market": "1x2",
            "prices": {"home": "2.1", "draw": "3.4", "away": "3.6"},
            "quoted_at": datetime(2025, 5, 1, 12, tzinfo=UTC),
            "bookmaker": bookmaker,
        }
    )
    command = to_command(odds, key="o", provenance=PROVENANCE, source="acme")
    assert isinstance(command, RecordOdds)
    assert command.source == source
    assert command.prices == odds.prices
    assert command.prices is not odds.prices


def test_a_held_payload_is_read_as_its_endpoint_reads_it() -> None:
    raw = b'{"type": "started", "event_id": "e-7", "fixture_id": "%s"}' % str(uuid4()).encode()
    command = command_from_json("match-event", raw, key="", provenance=PROVENANCE, source="acme")
    assert command.idempotency_key == "acme:e-7"
    kept = command_from_json("match-event", raw, key="acme:k", provenance=PROVENANCE, source="a")
    assert kept.idempotency_key == "acme:k"
    with pytest.raises(LookupError, match="cannot rebuild a 'lineup' payload"):
        command_from_json("lineup", raw, key="", provenance=PROVENANCE, source="acme")
