"""Read-your-writes on the REST API (gateway.api.read_after) against a real PostgreSQL and,
end to end, a real nats-server: a read with ``min_position`` waits until the projections have
committed that position, then answers with what it committed; past ``max_wait`` it is 503
``read-models-behind``, never an older answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from fastapi import FastAPI

from domain.access import Scope
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.api.latest_fast import FastAnswers
from gateway.app import create_app
from infra.access.keystore import PostgresKeyStore
from infra.bootstrap import Connections, gateway_notices
from infra.projections.logs import StoreEventLog
from projections.catalogue import postgres_projections
from projections.runner import ProjectionRunner
from readmodels.postgres.api_queries import ReadModelQueries
from readmodels.postgres.consistency import PositionWaits
from readmodels.postgres.positions import CHANNEL as COMMITS
from readmodels.postgres.positions import commit_notice
from tests.access_helpers import bearer, client, key_store, make_key
from tests.http_ingest import SCHEDULED, A, ingest_client
from tests.integration.test_notices_reconnect import seeded
from tests.integration.test_rest_api import E0, E1, create_read_models, insert_forecast

DEADLINE = 60.0


async def until(what: str, condition: Callable[[], Awaitable[bool] | bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        met = condition()
        if met if isinstance(met, bool) else await met:
            return
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.02)


async def commit_kickoff(pool: asyncpg.Pool, position: int, *, announce: bool = True) -> None:
    """E1 kicks off, committed as the fixtures projection commits a page: row, position and
    notice in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE rm_fixtures.fixtures SET status = 'live', minute = 1, position = $2"
            " WHERE fixture_id = $1",
            E1,
            position,
        )
        await set_position(conn, "fixtures", "events", position)
        if announce:
            await conn.execute(
                "SELECT pg_notify($1, $2)",
                COMMITS,
                commit_notice("fixtures", "events", position, {str(E1)}),
            )


async def set_position(conn: asyncpg.Connection, projection: str, stream: str, at: int) -> None:
    await conn.execute(
        f"INSERT INTO rm_{projection}.projection_position (stream, position) VALUES ($1, $2)"
        " ON CONFLICT (stream) DO UPDATE SET position = $2",
        stream,
        at,
    )


def reading_app(
    pool: asyncpg.Pool, store: PostgresKeyStore
) -> tuple[FastAPI, AccessGate, PositionWaits]:
    """The REST app on the read models, its waits as the gateway's lifespan sets them."""
    access = AccessGate(Authenticator(keys=store))
    app = create_app(
        version_probes=[],
        access=access,
        read_models=ReadModelQueries(pool),
        latest_cache_seconds=60,
    )
    waits = app.state.projection_waits = PositionWaits(pool)
    return app, access, waits


async def test_a_read_asking_for_its_write_waits_for_the_commit_and_answers_with_it(
    postgres_url: str,
) -> None:
    async with seeded(postgres_url) as pool, key_store(postgres_url) as store:
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        app, access, waits = reading_app(pool, store)
        notices = gateway_notices(
            postgres_url, app.state.latest_cache, access, Connections(), waits
        )
        async with pool.acquire() as conn:
            await set_position(conn, "fixtures", "events", 10)
        async with notices, client(app) as http:
            asking = asyncio.create_task(
                http.get(
                    f"/v1/fixtures/{E1}",
                    params={"min_position": "events:11", "max_wait": 10},
                    headers=bearer(reader),
                )
            )
            await until("the read waits", lambda: waits.waiting == 1)
            assert not asking.done()
            await commit_kickoff(pool, 11)
            answer = await asyncio.wait_for(asking, DEADLINE)
            assert answer.status_code == 200, answer.text
            assert answer.json()["fixture"]["status"] == "live"  # the commit it waited for

            # Already reached: answered at once; the list routes take it too.
            listed = await http.get(
                "/v1/fixtures",
                params=[("min_position", "events:3"), ("min_position", "events:11")],
                headers=bearer(reader),
            )
            assert listed.status_code == 200
            assert {f["status"] for f in listed.json()["items"] if f["fixture_id"] == str(E1)} == {
                "live"
            }

            # Not reached in time: 503 with a stable code, never the older answer.
            behind = await http.get(
                f"/v1/fixtures/{E1}",
                params={"min_position": "events:12", "max_wait": 0.2},
                headers=bearer(reader),
            )
            assert behind.status_code == 503
            assert behind.headers["content-type"] == "application/problem+json"
            assert behind.headers["retry-after"] == "1"
            assert behind.json()["code"] == "read-models-behind"
            assert behind.json()["min_position"] == "events:12"
            assert waits.waiting == 0


async def test_a_kept_latest_forecast_copy_is_not_the_answer_to_a_read_of_ones_writes(
    postgres_url: str,
) -> None:
    """A commit whose notice has not arrived leaves the kept copy in place (no watcher runs
    here): a plain read gets the copy, a read asking for the commit reads PostgreSQL."""
    async with seeded(postgres_url) as pool, key_store(postgres_url) as store:
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        app, _, waits = reading_app(pool, store)
        path = f"/v1/fixtures/{E0}/forecasts/latest"
        async with client(app) as http:
            before = await http.get(path, headers=bearer(reader))
            assert (await http.get(path, headers=bearer(reader))).headers["etag"] == (
                before.headers["etag"]
            )
            async with pool.acquire() as conn, conn.transaction():  # unannounced
                await insert_forecast(conn, 61, E0, "football-1x2", "m", [0.6, 0.2, 0.2])
                await set_position(conn, "forecasts", "forecasts", 61)
            stale = await http.get(path, headers=bearer(reader))
            assert stale.headers["etag"] == before.headers["etag"]  # the copy
            served_fast = FastAnswers.count
            mine = await http.get(
                path, params={"min_position": "forecasts:61"}, headers=bearer(reader)
            )
            assert FastAnswers.count == served_fast  # not the fast path's copy
            assert mine.status_code == 200
            assert mine.json()["forecasts"][0]["position"] == 61
            assert waits.waiting == 0


async def test_positions_are_checked_and_only_an_admitted_caller_waits(postgres_url: str) -> None:
    create_read_models(postgres_url)
    async with key_store(postgres_url) as store:
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            app = create_app(
                version_probes=[],
                access=AccessGate(Authenticator(keys=store)),
                read_models=ReadModelQueries(pool),
            )
            app.state.projection_waits = PositionWaits(pool)
            async with client(app) as http:
                bad: list[dict[str, str | float]] = [
                    {"min_position": "odds:3"},
                    {"min_position": "events:-1"},
                    {"min_position": "events"},
                    {"min_position": "events:1", "max_wait": 11},
                    {"min_position": "events:1", "max_wait": 0},
                ]
                for params in bad:
                    for path in (f"/v1/fixtures/{E1}", f"/v1/fixtures/{E1}/forecasts/latest"):
                        refused = await http.get(path, params=params, headers=bearer(reader))
                        assert refused.status_code == 422, (path, params)
                        assert refused.json()["code"] == "validation-error"
                # No caller: refused before any wait (a wait would end in 503 after 5 s).
                anonymous = await http.get(
                    f"/v1/fixtures/{E1}", params={"min_position": "events:99", "max_wait": 5}
                )
                assert anonymous.status_code == 401
                spec = (await http.get("/openapi.json")).json()
                names = {
                    p["name"]
                    for p in spec["paths"]["/v1/fixtures/{fixture_id}"]["get"]["parameters"]
                }
                assert {"min_position", "max_wait"} <= names
        finally:
            await pool.close()


async def test_an_ingest_202s_notification_ids_read_back_through_the_projector(
    nats_url: str, postgres_url: str, unique_name: str
) -> None:
    """End to end: the ids a real ingest returns, a real projector applying them, and a read
    that began waiting before the projector even started."""
    create_read_models(postgres_url)
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    async with key_store(postgres_url) as store:
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=4)
        assert pool is not None
        log = await asyncio.to_thread(StoreEventLog, "events", {**env, "NATS_STREAM": unique_name})
        try:
            with ingest_client(nats_url, unique_name) as api:
                accepted = await asyncio.to_thread(
                    api.http.post, "/feeds/fixtures", json=SCHEDULED, headers=A
                )
            assert accepted.status_code == 202, accepted.text
            body = accepted.json()
            fixture, last = body["aggregate_id"], max(body["notification_ids"])
            access = AccessGate(Authenticator(keys=store))
            app = create_app(version_probes=[], access=access, read_models=ReadModelQueries(pool))
            waits = app.state.projection_waits = PositionWaits(pool)
            notices = gateway_notices(
                postgres_url, app.state.latest_cache, access, Connections(), waits
            )
            async with notices, client(app) as http:

                def ask() -> asyncio.Task[httpx.Response]:
                    return asyncio.create_task(
                        http.get(
                            f"/v1/fixtures/{fixture}",
                            params={"min_position": f"events:{last}", "max_wait": 10},
                            headers=bearer(reader),
                        )
                    )

                asking = ask()
                await until("the read waits", lambda: waits.waiting == 1)
                runner = ProjectionRunner(
                    postgres_projections(postgres_url, ["fixtures"]), {"events": log}
                )
                async with runner:
                    answer = await asyncio.wait_for(asking, DEADLINE)
                    deadline = time.monotonic() + DEADLINE
                    # A projector slower to start than max_wait (a loaded box) gets the 503
                    # a client retries on; never the 404 of a read before the write.
                    while answer.status_code == 503 and time.monotonic() < deadline:
                        assert answer.json()["code"] == "read-models-behind"
                        answer = await asyncio.wait_for(ask(), DEADLINE)
            assert answer.status_code == 200, answer.text
            assert answer.json()["fixture"]["fixture_id"] == fixture
            assert answer.json()["fixture"]["home"] == SCHEDULED["home"]
        finally:
            await asyncio.to_thread(log.close)
            await pool.close()
