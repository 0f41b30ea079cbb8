"""The gateway's LISTEN connection (infra/notices.py) against a real PostgreSQL: lost (its
backend terminated with pg_terminate_backend, or frozen so that it goes silent), it is found
lost, /readyz says so, and once it is back nothing committed meanwhile is missed by a
read-your-writes wait or by the latest-forecast copies (docs/adr/0038)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from domain.access import Scope
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.api.latest_fast import FastAnswers
from gateway.app import create_app
from infra.bootstrap import NOTICES_DOWN, Connections, NoticesReady, gateway_notices
from infra.notices import APPLICATION_NAME, Notices, Subscription
from readmodels.postgres.api_queries import ReadModelQueries
from readmodels.postgres.consistency import PositionWaits
from readmodels.postgres.positions import CHANNEL as COMMITS
from readmodels.postgres.positions import commit_notice
from tests.access_helpers import bearer, client, key_store, make_key
from tests.freezing import freeze, thaw
from tests.integration.test_rest_api import E0, create_read_models, insert_forecast, seed

DEADLINE = 60.0
"""Generous: every wait below ends as soon as what it waits for is observed."""
NEVER = 10 * DEADLINE
"""A read-your-writes wait's own bound, never reached here: it must be woken, not time out
(a wait whose bound passes checks once more, and would then see the commit anyway)."""


async def until(what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.02)


class Gate:
    """A TCP forwarder to PostgreSQL that can refuse new connections (closed as soon as they
    are accepted), so that a lost listening connection stays lost as long as a test needs."""

    def __init__(self, postgres_url: str) -> None:
        self._target = urlsplit(postgres_url)
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        netloc = self._target.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
        return urlunsplit(self._target._replace(netloc=netloc))

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(
            self._target.hostname, self._target.port
        )
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.create_task(pipe)
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


async def listener_pids(pool: asyncpg.Pool) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        " AND datname = current_database()",
        APPLICATION_NAME,
    )
    return [r["pid"] for r in rows]


async def commit_forecast(pool: asyncpg.Pool, position: int) -> None:
    """E0's new latest forecast committed as the projection commits a page: rows, position and
    notice in one transaction (the notice leaves with the commit)."""
    async with pool.acquire() as conn, conn.transaction():
        await insert_forecast(conn, position, E0, "football-1x2", "m", [0.6, 0.2, 0.2])
        await conn.execute(
            "INSERT INTO rm_forecasts.projection_position (stream, position)"
            " VALUES ('forecasts', $1) ON CONFLICT (stream) DO UPDATE SET position = $1",
            position,
        )
        await conn.execute(
            "SELECT pg_notify($1, $2)",
            COMMITS,
            commit_notice("forecasts", "forecasts", position, {str(E0)}),
        )


@contextlib.asynccontextmanager
async def seeded(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    create_read_models(postgres_url)
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=4)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await seed(conn)
        yield pool
    finally:
        await pool.close()


async def test_a_lost_listener_comes_back_and_what_was_committed_meanwhile_is_seen(
    postgres_url: str,
) -> None:
    """No watcher runs here (ADR 0029's independent bound): only the notices and the resync
    after the reconnection can make the copies and the wait see the commit."""
    async with (
        seeded(postgres_url) as pool,
        key_store(postgres_url) as store,
        Gate(postgres_url) as gate,
    ):
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        access = AccessGate(Authenticator(keys=store))
        connections = Connections()
        app = create_app(
            version_probes=[],
            access=access,
            read_models=ReadModelQueries(pool),
            latest_cache_seconds=60,
            readiness_checks=[NoticesReady(lambda: connections.notices)],
        )
        cache = app.state.latest_cache
        waits = PositionWaits(pool)
        notices = gateway_notices(gate.url, cache, access, connections)
        notices.subscribe(Subscription(COMMITS, waits.on_commit, resync=waits.resync))
        path = f"/v1/fixtures/{E0}/forecasts/latest"
        async with notices, client(app) as http:

            async def readyz() -> httpx.Response:
                return await http.get("/readyz")

            async def latest() -> httpx.Response:
                return await http.get(path, headers=bearer(reader))

            assert (await readyz()).status_code == 200
            before = await latest()
            served_fast = FastAnswers.count
            assert (await latest()).headers["etag"] == before.headers["etag"]
            assert FastAnswers.count == served_fast + 1  # kept: answered from the copy
            first = notices.pid
            assert await listener_pids(pool) == [first]

            gate.refusing = True
            assert await pool.fetchval("SELECT pg_terminate_backend($1)", first)

            async def not_ready() -> bool:
                return (await readyz()).status_code == 503

            await until("/readyz not ready", not_ready)
            down = (await readyz()).json()
            assert [(c["name"], c["ready"], c["code"]) for c in down["checks"]] == [
                ("notices", False, NOTICES_DOWN)
            ]
            assert "LISTEN connection lost" in down["detail"]

            waiting = asyncio.create_task(
                waits.wait_for({"forecasts": 61}, within=NEVER, projections=["forecasts"])
            )

            async def wait_pending() -> bool:
                return waits.waiting == 1

            await until("the wait checked and waits", wait_pending)
            await commit_forecast(pool, 61)  # its notice reaches nobody
            assert not waiting.done()
            assert waits.waiting == 1
            meanwhile = await latest()  # no copy while deaf: read from PostgreSQL
            assert meanwhile.json()["forecasts"][0]["position"] == 61
            assert cache.get(E0) is None  # and not kept

            gate.refusing = False

            async def ready() -> bool:
                return (await readyz()).status_code == 200

            await until("/readyz ready again", ready)
            assert await asyncio.wait_for(waiting, DEADLINE)  # woken by the resync
            assert notices.connections >= 2  # (a health check timing out under load adds one)
            assert notices.pid != first
            assert await listener_pids(pool) == [notices.pid]
            after = await latest()
            assert after.json()["forecasts"][0]["position"] == 61

            # Notices flow again: the next commit drops E0's copy and the wait for it ends.
            kept = await latest()
            assert cache.get(E0) is not None
            next_wait = asyncio.create_task(
                waits.wait_for({"forecasts": 62}, within=NEVER, projections=["forecasts"])
            )
            await commit_forecast(pool, 62)
            assert await asyncio.wait_for(next_wait, DEADLINE)

            async def refreshed() -> bool:
                copy = cache.get(E0)
                return copy is not None and copy.etag != kept.headers["etag"]

            await until("E0's copy read again after the commit's notice", refreshed)
            assert (await latest()).json()["forecasts"][0]["position"] == 62


async def test_a_key_revoked_while_the_listener_was_lost_is_refused_once_it_is_back(
    postgres_url: str,
) -> None:
    """The revocation's notice reaches nobody; the key stays cached (an hour here) while the
    listener is lost, and is looked up again, and refused, as soon as it is back."""
    async with key_store(postgres_url) as store, Gate(postgres_url) as gate:
        token, record = await make_key(store, Scope.FORECASTS_READ)
        access = AccessGate(Authenticator(keys=store, cache_seconds=3600))
        connections = Connections()
        app = create_app(version_probes=[], access=access)
        notices = gateway_notices(gate.url, app.state.latest_cache, access, connections)
        admin = await asyncpg.connect(postgres_url)
        try:
            async with notices, client(app) as http:

                async def me() -> int:
                    return (await http.get("/v1/me", headers=bearer(token))).status_code

                assert await me() == 200  # verified, and kept for an hour
                gate.refusing = True
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", notices.pid)

                async def lost() -> bool:
                    return not notices.listening

                await until("the listener found lost", lost)
                await store.revoke(record.short)  # its notice reaches nobody
                assert await me() == 200  # still the kept principal: nothing said otherwise
                gate.refusing = False

                async def back() -> bool:
                    return notices.listening

                await until("the listener back", back)
                refused = await http.get("/v1/me", headers=bearer(token))
        finally:
            await admin.close()
    assert refused.status_code == 401
    assert refused.json()["code"] == "key-revoked"


async def test_a_silent_listening_session_is_found_by_the_health_check(postgres_url: str) -> None:
    """A frozen backend closes nothing: only the bounded health query finds it; the listener
    connects again and notices arrive on the new session."""
    heard: list[str] = []
    causes: list[str] = []
    resyncs: list[int] = []
    notices = Notices(postgres_url, check_every=0.2, check_within=1.0)
    notices.subscribe(
        Subscription(
            "sportcast_test",
            heard.append,
            lost=lambda: causes.append(notices.down_because),
            resync=lambda: resyncs.append(1),
        )
    )
    admin = await asyncpg.connect(postgres_url)
    frozen: int | None = None
    try:
        async with notices:
            frozen = notices.pid
            assert frozen is not None
            freeze(frozen)

            async def back_on_another_session() -> bool:
                return notices.listening and notices.pid not in (None, frozen)

            await until("listening on a new session", back_on_another_session)
            assert causes
            assert all(c.startswith("health check failed") for c in causes)
            assert len(resyncs) == len(causes)
            await admin.execute("SELECT pg_notify('sportcast_test', 'after')")

            async def heard_it() -> bool:
                return "after" in heard

            await until("the notice on the new session", heard_it)
    finally:
        if frozen is not None:
            thaw(frozen)
        await admin.close()
