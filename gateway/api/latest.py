"""The latest forecasts of a fixture, the API's hottest read: an in-process copy of each
answer (encoded JSON, its ETag and headers), and 304 for a client that already holds it.

Kept current (docs/adr/0029): every copy is dropped when the forecasts or fixtures projection
commits (``on_commit``, fed by the projections' NOTIFY: milliseconds); a watcher
(gateway.api.latest_watch) reads the state of both every check (1 s) and drops them when it
changed unseen (a lost notification, a rebuild switched in); copies are served only until two
checks after the start of the last reading that succeeded. A copy also lives at most ``ttl``
seconds. A miss
that read PostgreSQL before a commit was announced is answered but not kept (``epoch``), so a
reader who waited for a commit (read-your-writes) never gets a copy older than it.
The plan is checked on every request; a copy only saves the round trip and the encoding.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel

from gateway.api.public import ForecastPublic, forecast_public
from readmodels.postgres.queries import ForecastRow

ANSWERED_FROM = frozenset({"forecasts", "fixtures"})
"""The projections whose rows make a latest-forecasts answer."""


class LatestForecastsPublic(BaseModel):
    fixture_id: UUID
    forecasts: list[ForecastPublic]
    """The latest forecast of each model kind."""


@dataclass(frozen=True)
class LatestAnswer:
    sport: str
    competition: str
    etag: str
    body: bytes
    expires: float
    raw_ok: list[tuple[bytes, bytes]]
    """The ASGI headers of a 200 with ``body`` (and of a 304: ``raw_not_modified``), made once
    per copy so that a cached answer is sent without formatting anything."""
    raw_not_modified: list[tuple[bytes, bytes]]


def etag_of(rows: list[ForecastRow]) -> str:
    """Positions only grow, and a fixture's latest set changes only by a newer forecast: the
    count and the newest position name the content."""
    newest = max((r.position for r in rows), default=0)
    return f'"lf-{len(rows)}-{newest}"'


def answer_headers(etag: str) -> dict[str, str]:
    """A client may keep the answer but asks again before each use (``no-cache``): with the
    ETag that costs a 304 and no body; forecasts change within seconds during a match."""
    return {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization, X-API-Key",
    }


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def answer(
    fixture_id: UUID,
    sport: str,
    competition: str,
    rows: list[ForecastRow],
    *,
    expires: float,
) -> LatestAnswer:
    body = (
        LatestForecastsPublic(fixture_id=fixture_id, forecasts=[forecast_public(r) for r in rows])
        .model_dump_json()
        .encode()
    )
    etag = etag_of(rows)
    headers = answer_headers(etag)
    return LatestAnswer(
        sport=sport,
        competition=competition,
        etag=etag,
        body=body,
        expires=expires,
        raw_ok=_raw(
            {**headers, "Content-Type": "application/json", "Content-Length": str(len(body))}
        ),
        raw_not_modified=_raw(headers),
    )


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison against any listed tag, or ``*``."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


class LatestCache:
    def __init__(
        self,
        ttl: float = 1.0,
        *,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``ttl``: a copy's longest life, 0 keeps none; each copy's is drawn from
        [0.75, 1] x ``ttl`` so that copies made together are not all read again at once."""
        self.ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._answers: dict[UUID, LatestAnswer] = {}
        self._epoch = 0
        self._sources: Hashable = None
        self._confirmed_until = math.inf  # no watcher: notifications and ``ttl`` only

    @property
    def epoch(self) -> int:
        """Read before a miss queries PostgreSQL and passed to ``put``: a copy read before a
        commit was announced is served once but never kept."""
        return self._epoch

    def clear(self) -> None:
        self._epoch += 1
        self._answers.clear()

    def on_commit(self, payload: str) -> None:
        """A projection committed (NOTIFY payload ``<projection> <stream> <position>``): a
        commit of the projections these answers are made from drops every copy."""
        if payload.split(" ", 1)[0] in ANSWERED_FROM:
            self.clear()

    def now(self) -> float:
        """The cache's clock (``confirm`` takes a time on it)."""
        return self._clock()

    def await_readings(self) -> None:
        """A watcher starts: serve no copy until its first reading confirms."""
        self._confirmed_until = -math.inf

    def confirm(self, sources: Hashable, *, until: float) -> None:
        """The watcher read the state of the answers' sources: a change since its last reading
        (a commit whose notification was lost, a rebuild switched in) drops every copy. Copies
        are served until ``until`` (the reading's start + 2 checks), none after that unless a
        later reading confirms again."""
        if sources != self._sources:
            self.clear()
            self._sources = sources
        self._confirmed_until = until

    def get(self, fixture_id: UUID) -> LatestAnswer | None:
        found = self._answers.get(fixture_id)
        if found is None:
            return None
        now = self._clock()
        if found.expires <= now or self._confirmed_until <= now:
            return None
        return found

    def put(
        self,
        fixture_id: UUID,
        sport: str,
        competition: str,
        rows: list[ForecastRow],
        *,
        epoch: int,
    ) -> LatestAnswer:
        """The answer made from ``rows``, kept unless a commit was announced since ``epoch``."""
        life = self.ttl * (0.75 + 0.25 * random.random())  # noqa: S311 (spread, not secrecy)
        made = answer(fixture_id, sport, competition, rows, expires=self._clock() + life)
        if self.ttl > 0 and epoch == self._epoch:
            if len(self._answers) >= self._max:
                self._answers.clear()
            self._answers[fixture_id] = made
        return made
