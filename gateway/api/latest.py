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

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel

from gateway.api.public import ForecastPublic, forecast_public
from readmodels.postgres.positions import CommitNotice
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


Latest = tuple[str, str, list[ForecastRow]]
"""A fixture's sport, competition and latest forecasts (``ReadModels.latest_forecasts_of``)."""
Read = Callable[[UUID], Awaitable[Latest | None]]
REFILLS_PER_NOTICE = 16
"""A commit notice naming more fixtures than this refills none of their copies."""

Reading = tuple[tuple[str, int, str], ...]
"""What the watcher reads (``ReadModelQueries.committed``): per projection the oid of the
schema serving it and its positions, ``stream:position,...``."""


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
        self._all_dropped_at = 0
        self._dropped_at: dict[UUID, int] = {}  # the epoch each fixture's copy was last dropped
        self._schemas: dict[str, int] | None = None  # the watcher's last reading: schema oids
        self._announced: dict[tuple[str, str], int] = {}  # notified (projection, stream)
        self._confirmed_until = math.inf  # no watcher: notifications and ``ttl`` only
        self._reads: dict[UUID, tuple[int, asyncio.Task[LatestAnswer | None]]] = {}
        self._refill: Read | None = None
        self._hearing = True  # False while the commit notices' connection is lost

    def notices_lost(self) -> None:
        """The connection the commit notices come on is lost: a commit would go unannounced,
        so every copy is dropped and none is kept until ``notices_resumed``."""
        self._hearing = False
        self.clear()

    def notices_resumed(self) -> None:
        """Listening again: what was committed meanwhile was never announced, so every copy
        (and every read begun before now) is dropped; copies are kept again from now on."""
        self.clear()
        self._hearing = True

    def refills_from(self, read: Read) -> None:
        """Read a copy that a commit dropped again at once, in the background: the next
        request finds it kept, or waits for that read instead of querying itself."""
        self._refill = read

    async def loaded(self, fixture_id: UUID, read: Read) -> LatestAnswer | None:
        """The kept copy, else the answer ``read`` gives (None: no such fixture), read once
        however many ask at the same time. A read under way is joined only if it began after
        the fixture's last drop, so nobody gets an answer older than a commit announced
        before they asked."""
        found = self.get(fixture_id)
        if found is not None:
            return found
        under_way = self._reads.get(fixture_id)
        if under_way is None or not self._current(fixture_id, under_way[0]):
            under_way = self._read(fixture_id, read)
        return await asyncio.shield(under_way[1])

    def _read(self, fixture_id: UUID, read: Read) -> tuple[int, asyncio.Task[LatestAnswer | None]]:
        epoch = self._epoch

        async def reading() -> LatestAnswer | None:
            latest = await read(fixture_id)
            return None if latest is None else self.put(fixture_id, *latest, epoch=epoch)

        task = asyncio.get_running_loop().create_task(reading())
        started = self._reads[fixture_id] = (epoch, task)

        def done(finished: asyncio.Task[LatestAnswer | None]) -> None:
            if self._reads.get(fixture_id) is started:
                del self._reads[fixture_id]
            if not finished.cancelled():
                finished.exception()  # a refill nobody waits for: its failure is retrieved

        task.add_done_callback(done)
        return started

    def _current(self, fixture_id: UUID, epoch: int) -> bool:
        """No drop of this fixture (or of every fixture) since ``epoch``."""
        return epoch >= self._all_dropped_at and epoch >= self._dropped_at.get(fixture_id, 0)

    @property
    def epoch(self) -> int:
        """Read before a miss queries PostgreSQL and passed to ``put``: a copy read before a
        commit of its fixture was announced is served once but never kept."""
        return self._epoch

    def clear(self) -> None:
        self._epoch += 1
        self._all_dropped_at = self._epoch
        self._dropped_at.clear()
        self._answers.clear()

    def drop(self, fixtures: Iterable[UUID]) -> None:
        """Drop these fixtures' copies (a commit changed them); those that were kept are read
        again at once if ``refills_from`` was given a reader (at most REFILLS_PER_NOTICE)."""
        self._epoch += 1
        if len(self._dropped_at) >= self._max:
            self._all_dropped_at = self._epoch  # forget which: refuse every older read once
            self._dropped_at.clear()
        kept = []
        for fixture in fixtures:
            self._dropped_at[fixture] = self._epoch
            if self._answers.pop(fixture, None) is not None:
                kept.append(fixture)
        if self._refill is not None and len(kept) <= REFILLS_PER_NOTICE:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to refill in
                for fixture in kept:
                    self._read(fixture, self._refill)

    def on_commit(self, payload: str) -> None:
        """A projection committed (a ``readmodels.postgres.positions.CHANNEL`` notice): a
        commit of the projections these answers are made from drops the copies of the
        fixtures it names, or every copy when it names none."""
        try:
            notice = CommitNotice.parse(payload)
        except ValueError:
            if payload.split(" ", 1)[0] in ANSWERED_FROM:
                self.clear()  # not understood: assume the worst
            return
        if notice.projection not in ANSWERED_FROM:
            return
        key = (notice.projection, notice.stream)
        self._announced[key] = max(self._announced.get(key, 0), notice.position)
        if notice.keys is None:
            self.clear()
            return
        fixtures = []
        for named in notice.keys:
            try:
                fixtures.append(UUID(named))
            except ValueError:
                self.clear()
                return
        if fixtures:
            self.drop(fixtures)

    def now(self) -> float:
        """The cache's clock (``confirm`` takes a time on it)."""
        return self._clock()

    def await_readings(self) -> None:
        """A watcher starts: serve no copy until its first reading confirms."""
        self._confirmed_until = -math.inf

    def unannounced(self, reading: Reading) -> bool:
        """Whether ``reading`` shows a commit no notice has announced (yet): lost, or still
        on its way; also True for the first reading and after a schema switch."""
        schemas, positions = _parsed(reading)
        if schemas != self._schemas:
            return True
        return any(p > self._announced.get(k, 0) for k, p in positions.items())

    def confirm(self, reading: Reading, *, until: float) -> None:
        """The watcher read what the answers' sources committed: a commit no notice announced
        (a lost notice), a schema switched in (a rebuild) or the first reading drops every
        copy. Copies are served until ``until`` (the reading's start + 2 checks), none after
        that unless a later reading confirms again."""
        if self.unannounced(reading):
            self.clear()
            schemas, positions = _parsed(reading)
            self._schemas = schemas
            for k, p in positions.items():
                self._announced[k] = max(self._announced.get(k, 0), p)
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
        """The answer made from ``rows``, kept unless a commit of this fixture (or of every
        fixture) was announced since ``epoch``, or commits go unannounced now."""
        life = self.ttl * (0.75 + 0.25 * random.random())  # noqa: S311 (spread, not secrecy)
        made = answer(fixture_id, sport, competition, rows, expires=self._clock() + life)
        if self.ttl > 0 and self._hearing and self._current(fixture_id, epoch):
            if len(self._answers) >= self._max:
                self._answers.clear()
            self._answers[fixture_id] = made
        return made


def _parsed(reading: Reading) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    schemas: dict[str, int] = {}
    positions: dict[tuple[str, str], int] = {}
    for projection, oid, streams in reading:
        schemas[projection] = oid
        for entry in filter(None, streams.split(",")):
            stream, _, position = entry.rpartition(":")
            positions[(projection, stream)] = int(position)
    return schemas, positions
