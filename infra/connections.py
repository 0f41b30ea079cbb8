"""Connections to NATS and PostgreSQL, and the version probes behind /health.

A process has one NATS identity (TLS and credentials): the composition root gives it once to
:func:`use_nats_security` (``infra.nats_identity``), and every :func:`connect_nats` uses it
unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
from nats.aio.client import Client as NATS

from infra.connection_state import ConnectionState
from infra.eventstore.denials import Denials
from infra.eventstore.security import NatsSecurity
from infra.nats_identity import process_nats_security
from infra.notices import Notices, Subscription

log = logging.getLogger("sportcast.nats")
_denials = Denials()


async def connect_nats(
    url: str,
    *,
    name: str = "sportcast",
    reconnect: bool = True,
    security: NatsSecurity | None = None,
) -> NATS:
    # Reconnect forever: a restarted server is picked up without restarting sportcast.
    # A cluster is given as comma-separated URLs; nats-py wants a list.
    # ``reconnect=False`` (one-shot tools such as the audit): fail at once instead.
    servers = [u.strip() for u in url.split(",") if u.strip()]
    # One log line per change of state, not per attempt; a permission violation with its code.
    state = ConnectionState(name, _denials)
    nc = await nats.connect(
        servers=servers,
        name=name,
        allow_reconnect=reconnect,
        # nats-py retries a refused first connection forever when this is 0 (it discards a
        # server only past a positive limit): 1 makes it give up after a second try.
        max_reconnect_attempts=-1 if reconnect else 1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        **(security or process_nats_security()).nats_py_options(url),
        **state.callbacks(),
    )
    state.first_connected(nc)
    return nc


async def any_server_listening(url: str, *, within: float = 2.0) -> bool:
    """Whether some server of ``url`` accepts a TCP connection: a command-line client checks
    this first, so a stack that is not running is one clear line, not a retry loop."""
    for server in (u.strip() for u in url.split(",") if u.strip()):
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                within,
            )
        except (OSError, TimeoutError):
            continue
        writer.close()
        return True
    return False


def nats_server_version(nc: NATS) -> str:
    info = nc._server_info  # the INFO block the server sent on connect
    return str(info.get("version", "unknown"))


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist yet."""
    database = urlsplit(url).path.lstrip("/") or "postgres"
    admin = await asyncpg.connect(_with_database(url, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()


async def keep_session(_: asyncpg.Connection) -> None:
    """A pool ``reset`` that leaves the session as it is: for pools whose users change no
    session state (no SET, LISTEN, prepared cursors), it saves a round trip per use."""


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, reset_sessions: bool = True
) -> asyncpg.Pool:
    """``reset_sessions=False``: connections go back to the pool without asyncpg's reset query
    (``RESET ALL``, ``UNLISTEN *``...), for read paths that change no session state."""
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, reset=None if reset_sessions else keep_session
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def own_pool(url: str, *, size: int = 1) -> AsyncIterator[asyncpg.Pool]:
    """A small pool of its own, for a background task that must not queue behind the requests
    for the shared pool's connections (the latest-forecast watcher: docs/adr/0029)."""
    pool = await create_pool(url, min_size=size, max_size=size, reset_sessions=False)
    try:
        yield pool
    finally:
        await pool.close()


async def postgres_server_version(pool: asyncpg.Pool) -> str:
    async with asyncio.timeout(2):
        return str(await pool.fetchval("SHOW server_version"))


@contextlib.asynccontextmanager
async def listening(
    url: str, channel: str, deliver: Callable[[str], None]
) -> AsyncIterator[Notices]:
    """Call ``deliver(payload)`` for each NOTIFY on ``channel`` while the context is open, on a
    connection of its own that is made again when lost (``infra.notices``)."""
    notices = Notices(url)
    notices.subscribe(Subscription(channel, deliver))
    async with notices:
        yield notices
