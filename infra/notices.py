"""A process's LISTEN connection to PostgreSQL, connected again whenever it is lost.

PostgreSQL hands a NOTIFY only to sessions listening at the moment of the commit: once the
listening connection is gone (a server restart, a dropped or killed session) every notice is
lost, and a connection that never comes back loses them for good (docs/adr/0038). ``Notices``
keeps one connection LISTENing on every channel its subscribers name, finds it lost at once
(asyncpg's termination callback) or when it stops answering (a health query every
``check_every`` seconds, bounded by ``check_within``), tells each subscriber (``lost``), connects
again with capped, jittered backoff (tenacity, docs/adr/0022), and once LISTEN is in force
again tells each subscriber that notices may have been missed (``resync``): whatever was
committed before then the subscriber reads for itself, whatever comes after is announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

log = logging.getLogger("sportcast.notices")

APPLICATION_NAME = "sportcast-notices"
"""The listening session's ``application_name`` (``pg_stat_activity`` shows whose it is)."""

LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What connecting or the health query raise when the server or the network is away: all
safe to retry, since connecting and LISTEN change nothing on the server."""


def _tell(callback: Callable[[], None]) -> None:
    """A subscriber's failure is logged; it must not stop the others being told."""
    try:
        callback()
    except Exception:
        log.exception("a notices subscriber failed on a loss or resync")


def _nothing() -> None:
    """A subscriber with nothing to do on a loss or a resync."""


@dataclass(frozen=True)
class Subscription:
    """``deliver(payload)`` for each notice on ``channel``; ``lost()`` once the connection is
    found gone (notices may be missed from then on); ``resync()`` once listening again."""

    channel: str
    deliver: Callable[[str], None]
    lost: Callable[[], None] = _nothing
    resync: Callable[[], None] = _nothing


class Notices:
    def __init__(
        self,
        url: str,
        *,
        check_every: float = 5.0,
        check_within: float = 2.0,
        backoff_max: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._check_every = check_every
        self._check_within = check_within
        self._backoff_max = backoff_max
        self._clock = clock
        self._subscriptions: list[Subscription] = []
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.down_since: float | None = None
        """When the connection was found lost (the cause in ``down_because``); None: listening."""
        self.down_because = ""
        self.connections = 0
        """How many times a connection was made and LISTEN set on it (1 = never lost)."""

    def subscribe(self, subscription: Subscription) -> None:
        """Before ``start``: the channels are LISTENed on each connection."""
        assert self._task is None, "subscribe before start"
        self._subscriptions.append(subscription)

    @property
    def listening(self) -> bool:
        return self._task is not None and self.down_since is None

    @property
    def pid(self) -> int | None:
        """The listening session's server process (``pg_backend_pid``), while connected."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else conn.get_server_pid()

    async def start(self) -> None:
        """Connect and LISTEN (an unreachable server fails here, as any start-up connection);
        from then on a lost connection is found and made again until ``stop``."""
        conn = await self._listening_connection()
        self._task = asyncio.create_task(self._keep(conn))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                cause = await self._until_lost(conn)
                self._went_down(cause)
                conn.terminate()
                conn = await self._reconnected()
        finally:
            self._conn = None
            conn.terminate()

    async def _listening_connection(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(
            self._url,
            timeout=max(self._check_within, 5.0),
            server_settings={"application_name": APPLICATION_NAME},
        )
        try:
            for channel in dict.fromkeys(s.channel for s in self._subscriptions):
                await conn.add_listener(channel, self._on_notify)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self.connections += 1
        return conn

    def _on_notify(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for s in self._subscriptions:
            if s.channel == channel:
                s.deliver(payload)

    async def _until_lost(self, conn: asyncpg.Connection) -> str:
        """Return why ``conn`` is no longer to be trusted: closed, or its health query failed
        or took longer than ``check_within`` (a silent server or network)."""
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _c: closed.set())
        while not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), self._check_every)
                break
            try:
                async with asyncio.timeout(self._check_within):
                    await conn.fetchval("SELECT 1")
            except LOST as exc:
                return f"health check failed: {type(exc).__name__}: {exc}".rstrip(": ")
        return "connection closed"

    def _went_down(self, cause: str) -> None:
        self.down_since = self._clock()
        self.down_because = cause
        self._conn = None
        log.warning("LISTEN connection to PostgreSQL lost (%s): connecting again", cause)
        for s in self._subscriptions:
            _tell(s.lost)

    async def _reconnected(self) -> asyncpg.Connection:
        retrying = AsyncRetrying(
            # 0.05, 0.1, 0.2 ... s up to backoff_max, plus up to 0.1 s so that gateways spread out.
            wait=wait_exponential(multiplier=0.05, max=self._backoff_max) + wait_random(0, 0.1),
            retry=retry_if_exception_type(LOST),
            before_sleep=self._note_attempt,
        )
        conn: asyncpg.Connection = await retrying(self._listening_connection)
        down_for = self._clock() - (self.down_since or self._clock())
        self.down_since = None
        self.down_because = ""
        log.info("LISTEN connection to PostgreSQL back after %.2f s", down_for)
        for s in self._subscriptions:
            _tell(s.resync)
        return conn

    def _note_attempt(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            self.down_because = f"reconnecting: {type(error).__name__}: {error}".rstrip(": ")

    async def __aenter__(self) -> Notices:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def describe(self) -> str:
        channels = ", ".join(dict.fromkeys(s.channel for s in self._subscriptions))
        if self._task is None:
            return "not started"
        if self.down_since is not None:
            return (
                f"LISTEN connection lost {self._clock() - self.down_since:.1f} s ago"
                f" ({self.down_because}); notices on {channels} are missed until it is back"
            )
        return f"listening on {channels}"
