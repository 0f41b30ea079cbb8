"""Which events a subscriber wants, and the index that finds the subscribers an event is for.

A subscriber is indexed under one key only: its most selective dimension (fixture, then
competition, model, sport), once per value it names, or under "every event" when it names
none. An event has one value per dimension, so it reaches each subscriber at most once, and
only the subscribers filed under its own keys are looked at: the cost of an event is the
number of its candidates, not the number of connections. What the chosen key does not decide
(other dimensions, the entitlement) is checked on the candidate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from readmodels.live import Kind, StreamEvent


class Entitlement(Protocol):
    """What a client's plan covers; supplied by the gateway's access control."""

    def covers(self, sport: str, competition: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Filter:
    """Repeatable query parameters; an empty set means "any". ``model`` narrows forecasts
    only: odds and match events have no model and pass it."""

    sports: frozenset[str] = frozenset()
    competitions: frozenset[str] = frozenset()
    fixtures: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()

    def accepts(self, event: StreamEvent) -> bool:
        return (
            (not self.fixtures or event.fixture in self.fixtures)
            and (not self.competitions or event.competition in self.competitions)
            and (not self.sports or event.sport in self.sports)
            and (not self.models or event.kind is not Kind.FORECAST or event.model in self.models)
        )

    def key(self) -> tuple[str, frozenset[str]]:
        """The dimension this filter is indexed under, with its values ("any": none)."""
        for name, values in (
            ("fixture", self.fixtures),
            ("competition", self.competitions),
            ("model", self.models),
            ("sport", self.sports),
        ):
            if values:
                return name, values
        return "any", frozenset()

    def decided_by_key(self) -> bool:
        """Whether the index key alone decides (one dimension given, and not ``model``, which
        lets non-forecasts through)."""
        given = sum(bool(v) for v in (self.sports, self.competitions, self.fixtures, self.models))
        return given == 0 or (given == 1 and not self.models)


@functools.lru_cache(maxsize=4096)
def interned(
    sports: tuple[str, ...],
    competitions: tuple[str, ...],
    fixtures: tuple[str, ...],
    models: tuple[str, ...],
) -> Filter:
    """One shared ``Filter`` per distinct query (thousands of clients follow the same fixture:
    memory per idle connection counts)."""
    return Filter(
        sports=_values(sports),
        competitions=_values(competitions),
        fixtures=_values(fixtures),
        models=_values(models),
    )


_NONE: frozenset[str] = frozenset()


def _values(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(values) if values else _NONE


def residual_check(
    flt: Filter, entitlement: Entitlement | None
) -> Callable[[StreamEvent], bool] | None:
    """What must still be checked on a candidate the index found (None: nothing)."""
    own = None if flt.decided_by_key() else flt.accepts
    if entitlement is None:
        return own
    covers = entitlement.covers
    if own is None:
        return lambda e: covers(e.sport, e.competition)
    return lambda e: covers(e.sport, e.competition) and own(e)


S = TypeVar("S")


@dataclass
class FilterIndex(Generic[S]):
    """Subscribers of one endpoint, by the key their filter is indexed under."""

    any: set[S] = field(default_factory=set)
    by_fixture: dict[str, set[S]] = field(default_factory=dict)
    by_competition: dict[str, set[S]] = field(default_factory=dict)
    by_model: dict[str, set[S]] = field(default_factory=dict)
    by_sport: dict[str, set[S]] = field(default_factory=dict)
    size: int = 0

    def _table(self, name: str) -> dict[str, set[S]]:
        tables = {
            "fixture": self.by_fixture,
            "competition": self.by_competition,
            "model": self.by_model,
            "sport": self.by_sport,
        }
        return tables[name]

    def add(self, subscriber: S, flt: Filter) -> None:
        name, values = flt.key()
        self.size += 1
        if name == "any":
            self.any.add(subscriber)
            return
        table = self._table(name)
        for value in values:
            table.setdefault(value, set()).add(subscriber)

    def remove(self, subscriber: S, flt: Filter) -> None:
        name, values = flt.key()
        self.size -= 1
        if name == "any":
            self.any.discard(subscriber)
            return
        table = self._table(name)
        for value in values:
            members = table.get(value)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del table[value]

    def candidates(self, event: StreamEvent) -> Iterator[set[S]]:
        """The sets of subscribers that may want ``event`` (disjoint)."""
        if self.any:
            yield self.any
        for table, value in (
            (self.by_fixture, event.fixture),
            (self.by_competition, event.competition),
            (self.by_sport, event.sport),
        ):
            members = table.get(value)
            if members:
                yield members
        if event.model is not None:
            members = self.by_model.get(event.model)
            if members:
                yield members
        elif self.by_model and event.kind is not Kind.FORECAST:
            # A model filter lets odds and match events through: every model-indexed subscriber
            # (once, though it may be filed under several models).
            yield set().union(*self.by_model.values())

    def __len__(self) -> int:
        return self.size
