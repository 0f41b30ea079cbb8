"""Who may see what: scopes, subscription plans, per-caller budgets and the authenticated
caller (Principal). Pure values. One rule serves REST queries and SSE filters alike:
``principal.allows(sport, competition)`` decides whether a fixture, a forecast or an event may
be shown to this caller at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Scope(StrEnum):
    FEED_WRITE = "feed:write"
    FORECASTS_READ = "forecasts:read"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"


class PlanError(ValueError):
    """A plan entry or scope that cannot be read; the message says which."""


EVERYTHING = "*"


@dataclass(frozen=True)
class Plan:
    """What a subscription covers: every sport, whole sports, or single competitions.

    Written as entries: ``*`` (everything), ``football`` (a sport), ``football/Premier League``
    (one competition of a sport). An empty plan covers nothing.
    """

    everything: bool = False
    sports: frozenset[str] = frozenset()
    competitions: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Plan:
        everything = False
        sports: set[str] = set()
        competitions: set[tuple[str, str]] = set()
        for raw in entries:
            entry = raw.strip()
            if entry == EVERYTHING:
                everything = True
            elif "/" in entry:
                sport, _, competition = entry.partition("/")
                if not sport or not competition:
                    raise PlanError(f"plan entry {raw!r}: write 'sport/competition'")
                competitions.add((sport, competition))
            elif entry:
                sports.add(entry)
            else:
                raise PlanError("an empty plan entry; use '*', 'sport' or 'sport/competition'")
        return cls(everything, frozenset(sports), frozenset(competitions))

    def entries(self) -> list[str]:
        """The plan written back as entries, the form stored with a key."""
        head = [EVERYTHING] if self.everything else []
        return head + sorted(self.sports) + sorted(f"{s}/{c}" for s, c in self.competitions)

    def allows(self, sport: str, competition: str) -> bool:
        return self.everything or sport in self.sports or (sport, competition) in self.competitions


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    scopes: set[Scope] = set()
    for value in values:
        try:
            scopes.add(Scope(value))
        except ValueError as exc:
            known = ", ".join(s.value for s in Scope)
            raise PlanError(f"unknown scope {value!r}; known: {known}") from exc
    return frozenset(scopes)


@dataclass(frozen=True)
class Limits:
    """Per-key budgets: requests per minute and concurrent stream connections."""

    requests_per_minute: int = 600
    connections: int = 10


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``subject`` names it in logs and limits: ``key:<short>``, ``jwt:<iss>#<sub>`` or
    ``env:<provider>``.
    ``provider`` is set for feed writers: the feed source every message of theirs is recorded as.
    """

    subject: str
    scopes: frozenset[Scope]
    plan: Plan
    limits: Limits = field(default_factory=Limits)
    provider: str | None = None

    def has(self, scope: Scope) -> bool:
        """``admin`` holds every scope."""
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def allows(self, sport: str, competition: str) -> bool:
        """May this caller see anything about a fixture of this sport and competition?"""
        return self.plan.allows(sport, competition)
