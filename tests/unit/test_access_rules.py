"""Plans, scopes, key format and connection limits: the pure rules of access control."""

from __future__ import annotations

import pytest

from commands.api_keys import generate_key, long_hash, parse_key
from domain.access import Limits, Plan, PlanError, Principal, Scope, parse_scopes
from gateway.access.refusals import TooManyConnections
from gateway.access.throttle import OpenConnections


def test_a_plan_covers_everything_whole_sports_or_single_competitions() -> None:
    plan = Plan.parse(["basketball", "football/E0"])
    assert plan.allows("basketball", "NBA")
    assert plan.allows("football", "E0")
    assert not plan.allows("football", "E1")
    assert not Plan.parse([]).allows("football", "E0")
    assert Plan.parse(["*"]).allows("football", "anything")
    assert Plan.parse(["football/Serie A/2"]).allows("football", "Serie A/2")
    assert Plan.parse(plan.entries()) == plan


@pytest.mark.parametrize("entry", ["", "/E0", "football/"])
def test_a_malformed_plan_entry_is_refused(entry: str) -> None:
    with pytest.raises(PlanError):
        Plan.parse([entry])


def test_unknown_scopes_are_refused_and_admin_holds_every_scope() -> None:
    with pytest.raises(PlanError, match="unknown scope"):
        parse_scopes(["forecasts:write"])
    admin = Principal("key:a", frozenset({Scope.ADMIN}), Plan())
    reader = Principal("key:b", frozenset({Scope.FORECASTS_READ}), Plan())
    assert all(admin.has(s) for s in Scope)
    assert reader.has(Scope.FORECASTS_READ)
    assert not reader.has(Scope.FEED_WRITE)


def test_keys_parse_back_and_only_the_long_part_is_hashed() -> None:
    new = generate_key()
    presented = parse_key(new.token)
    assert presented is not None
    assert presented.short == new.short
    assert long_hash(presented.long) == new.long_hash
    assert generate_key().token != new.token
    for other in ("eyJhbGciOi.x.y", "sc_short_long", new.token + "0", "xx" + new.token[2:]):
        assert parse_key(other) is None


def test_connections_beyond_the_limit_are_refused_and_released() -> None:
    connections = OpenConnections()
    caller = Principal("key:a", frozenset(), Plan(), limits=Limits(connections=2))
    with connections.hold(caller), connections.hold(caller):
        assert connections.count(caller) == 2
        with pytest.raises(TooManyConnections), connections.hold(caller):
            pass
    assert connections.count(caller) == 0
    with connections.hold(caller):
        assert connections.count(caller) == 1
