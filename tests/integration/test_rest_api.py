"""The REST API on the projections' real PostgreSQL tables (created by their migrations), with
rows written straight into them: each endpoint, paging, ETag/304, plans and scopes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from domain.access import Limits, Scope
from gateway.access.authenticator import Authenticator
from gateway.access.bearer_jwt import IssuerKeys, JwtVerifier
from gateway.access.gate import AccessGate
from gateway.api.latest_fast import FastAnswers
from gateway.api.latest_watch import watching
from gateway.app import create_app
from infra.access.keystore import PostgresKeyStore
from infra.connections import listening
from readmodels.postgres.api_queries import ReadModelQueries
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.positions import CHANNEL as COMMITS
from readmodels.postgres.positions import commit_notice
from readmodels.postgres.queries import ForecastRow
from readmodels.postgres.schemas import live_schema
from tests.access_helpers import Issuer, bearer, client, key_store, make_key, serving

READ_MODELS = ("fixtures", "odds", "forecasts", "track_record", "feed_health", "quarantine")
KICKOFF = datetime(2016, 3, 5, 12, 45, tzinfo=UTC)
E0 = UUID("00000000-0000-0000-0000-0000000000e0")
E1 = UUID("00000000-0000-0000-0000-0000000000e1")
NBA = UUID("00000000-0000-0000-0000-0000000000ba")
FEATURES_10 = {"elo_diff": 35.5, "market_home": 0.48, "rest_days_home": 3.0}


def create_read_models(postgres_url: str) -> None:
    for name in READ_MODELS:
        apply_migrations(postgres_url, name, live_schema(name))


async def seed(conn: asyncpg.Connection) -> None:
    fixtures = [
        (E0, "football", "E0", "2015-2016", "Arsenal", "Spurs", KICKOFF, "finished", 2, 1),
        (E1, "football", "E1", "2015-2016", "Leeds", "Derby", KICKOFF, "scheduled", None, None),
        (
            NBA,
            "basketball",
            "NBA",
            "2015-2016",
            "Bulls",
            "Knicks",
            KICKOFF + timedelta(days=1),
            "scheduled",
            None,
            None,
        ),
    ]
    for position, (fid, sport, comp, season, home, away, kickoff, status, rh, ra) in enumerate(
        fixtures, start=1
    ):
        await conn.execute(
            "INSERT INTO rm_fixtures.fixtures (fixture_id, sport, competition, season, home, "
            "away, kickoff, status, result_home, result_away, home_score, away_score, position) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
            fid,
            sport,
            comp,
            season,
            home,
            away,
            kickoff,
            status,
            rh,
            ra,
            rh or 0,
            ra or 0,
            position,
        )
        await conn.execute(
            "INSERT INTO rm_track_record.fixtures VALUES ($1, $2, $3, $4)", fid, sport, comp, season
        )
    await conn.execute(
        "UPDATE rm_fixtures.fixtures SET venue = 'Emirates Stadium', venue_country = 'England'"
        " WHERE fixture_id = $1",
        E0,
    )
    books = {"pinnacle": uuid4(), "bet365": uuid4()}
    quotes = [  # position, source, decimal prices
        (100, "pinnacle", [2.10, 3.40, 3.60]),
        (101, "bet365", [2.05, 3.50, 3.70]),
        (102, "pinnacle", [2.20, 3.30, 3.50]),
    ]
    for position, source, prices in quotes:
        probs = [1 / p for p in prices]
        total = sum(probs)
        row = (
            KICKOFF - timedelta(hours=200 - position),
            None,
            "decimal",
            [f"{p:.2f}" for p in prices],
            prices,
            total - 1,
            "proportional",
            [p / total for p in probs],
        )
        await conn.execute(
            "INSERT INTO rm_odds.odds_history VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            position,
            books[source],
            E0,
            *row,
        )
        await conn.execute(
            "INSERT INTO rm_odds.odds_latest VALUES "
            "($1,$2,'1x2',$3,$4,$5,$6,$7,$8,$9,$10,$11,1,$12) ON CONFLICT (book_id) "
            "DO UPDATE SET quoted_at = EXCLUDED.quoted_at, "
            "raw_prices = EXCLUDED.raw_prices, decimal_prices = EXCLUDED.decimal_prices, "
            "probabilities = EXCLUDED.probabilities, position = EXCLUDED.position",
            books[source],
            E0,
            source,
            *row,
            position,
        )
    for position, fid, kind, model, probs in [
        (10, E0, "football-1x2", "football-1x2-aaa", [0.5, 0.3, 0.2]),
        (20, E0, "football-1x2", "football-1x2-aaa", [0.55, 0.25, 0.2]),
        (30, E0, "football-inplay", "football-inplay-bbb", [0.7, 0.2, 0.1]),
        (40, NBA, "nba", "nba-ccc", [0.6, 0.4]),
    ]:
        await insert_forecast(conn, position, fid, kind, model, probs)
    # What the projection keeps from each ForecastIssued (position 30: projected before it did).
    for position, features in [(10, FEATURES_10), (20, {"elo_diff": 41.0})]:
        await conn.execute(
            "UPDATE rm_forecasts.forecasts SET features = $2::jsonb WHERE position = $1",
            position,
            json.dumps(features),
        )


async def insert_forecast(
    conn: asyncpg.Connection, position: int, fid: UUID, kind: str, model: str, probs: list[float]
) -> None:
    outcomes = ["home", "draw", "away"] if len(probs) == 3 else ["home", "away"]
    market = [1 / len(probs)] * len(probs)
    values = (
        position,
        fid,
        position // 10,
        kind,
        KICKOFF - timedelta(hours=1),
        KICKOFF,
        "odds",
        model,
        "sha256:x",
        "1x2" if len(probs) == 3 else "moneyline",
        outcomes,
        probs,
        market,
        [p - m for p, m in zip(probs, market, strict=True)],
        position - 1,
    )
    await conn.execute(
        "INSERT INTO rm_forecasts.forecasts VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,"
        "$14,$15)",
        *values,
    )
    await conn.execute(
        "INSERT INTO rm_forecasts.latest_forecasts (fixture_id, model_kind, position, version, "
        "issued_at, kickoff, trigger, model_id, artifact_hash, market, outcomes, probabilities, "
        "market_probabilities, edge, as_of_position) VALUES ($2,$4,$1,$3,$5,$6,$7,$8,$9,$10,$11,"
        "$12,$13,$14,$15) ON CONFLICT (fixture_id, model_kind) DO UPDATE SET "
        "position = EXCLUDED.position, probabilities = EXCLUDED.probabilities, "
        "edge = EXCLUDED.edge, model_id = EXCLUDED.model_id",
        *values,
    )


async def seed_settled(conn: asyncpg.Connection) -> None:
    # E0 finished home: two settled forecasts of model aaa; NBA: one of ccc (home won).
    for position, fid, model, kind, probs, outcome, rps in [
        (10, E0, "football-1x2-aaa", "football-1x2", [0.5, 0.3, 0.2], 0, 0.17),
        (20, E0, "football-1x2-aaa", "football-1x2", [0.55, 0.25, 0.2], 0, 0.14),
        (40, NBA, "nba-ccc", "nba", [0.6, 0.4], 0, 0.16),
    ]:
        await conn.execute(
            "INSERT INTO rm_track_record.settled_forecasts (position, fixture_id, model_kind, "
            "model_id, trigger, track, outcomes, probabilities, market_probabilities, outcome, "
            "rps, log_loss, brier, market_rps, market_log_loss, market_brier, result_position) "
            "VALUES ($1,$2,$3,$4,'odds','odds-open',$5,$6,$7,$8,$9,0.6,0.3,0.2,1.0,0.6,500)",
            position,
            fid,
            kind,
            model,
            ["home", "draw", "away"][: len(probs)],
            probs,
            [1 / len(probs)] * len(probs),
            outcome,
            rps,
        )


@asynccontextmanager
async def caching_app(
    postgres_url: str, jwt: JwtVerifier | None = None
) -> AsyncIterator[tuple[FastAPI, PostgresKeyStore, asyncpg.Pool]]:
    """The seeded read models behind an app whose latest-forecast copies live 60 s."""
    create_read_models(postgres_url)
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=2)
    assert pool is not None
    async with pool.acquire() as conn:
        await seed(conn)
    try:
        async with key_store(postgres_url) as store:
            yield (
                create_app(
                    version_probes=[],
                    access=AccessGate(Authenticator(keys=store, jwt=jwt)),
                    read_models=ReadModelQueries(pool),
                    latest_cache_seconds=60,
                ),
                store,
                pool,
            )
    finally:
        await pool.close()


@pytest.fixture
async def api(postgres_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], Any]]:
    """A client on the app with the seeded read models, and keys by plan."""
    create_read_models(postgres_url)
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=4)
    assert pool is not None
    async with pool.acquire() as conn:
        await seed(conn)
        await seed_settled(conn)
        await conn.execute(
            "INSERT INTO rm_feed_health.pulses (source, competition, last_quote_at, position) "
            "VALUES ('pinnacle','E0',$1,100), "
            "('acme','NBA',$1,101)",
            datetime.now(UTC) - timedelta(minutes=5),
        )
        await conn.execute(
            "INSERT INTO rm_quarantine.held VALUES (1,'acme','odds','impossible-book',now()), "
            "(2,'acme','odds','impossible-book',now()), "
            "(3,'acme','fixture','validation-error',now())"
        )
    async with key_store(postgres_url) as store:
        keys = {
            "all": (await make_key(store, Scope.FORECASTS_READ))[0],
            "e0": (await make_key(store, Scope.FORECASTS_READ, plan=("football/E0",)))[0],
            "basketball": (await make_key(store, Scope.FORECASTS_READ, plan=("basketball",)))[0],
            "admin": (await make_key(store, Scope.ADMIN))[0],
            "feed": (await make_key(store, Scope.FEED_WRITE, provider="acme"))[0],
        }
        app = create_app(
            version_probes=[],
            access=AccessGate(Authenticator(keys=store)),
            read_models=ReadModelQueries(pool),
            latest_cache_seconds=0,
        )
        async with client(app) as http:
            yield http, keys, pool
    await pool.close()


Api = tuple[httpx.AsyncClient, dict[str, str], Any]


async def get(api: Api, path: str, key: str, **params: Any) -> httpx.Response:
    http, keys, _ = api
    return await http.get(path, headers=bearer(keys[key]), params=params)


async def test_fixtures_are_filtered_by_plan_and_query(api: Api) -> None:
    everything = await get(api, "/v1/fixtures", "all")
    assert everything.status_code == 200, everything.text
    assert [f["competition"] for f in everything.json()["items"]] == ["E0", "E1", "NBA"]
    assert [f["competition"] for f in (await get(api, "/v1/fixtures", "e0")).json()["items"]] == [
        "E0"
    ]
    hoops = (await get(api, "/v1/fixtures", "basketball")).json()["items"]
    assert [f["home"] for f in hoops] == ["Bulls"]
    assert [
        f["competition"]
        for f in (await get(api, "/v1/fixtures", "all", sport="basketball")).json()["items"]
    ] == ["NBA"]
    assert [
        f["competition"]
        for f in (await get(api, "/v1/fixtures", "all", status="scheduled")).json()["items"]
    ] == ["E1", "NBA"]
    on_day = (await get(api, "/v1/fixtures", "all", on="2016-03-05")).json()["items"]
    assert [f["competition"] for f in on_day] == ["E0", "E1"]
    finished = (await get(api, "/v1/fixtures", "all", competition="E0")).json()["items"][0]
    assert finished["result"] == {"home": 2, "away": 1}
    bad = await get(api, "/v1/fixtures", "all", status="sleeping")
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation-error"


async def test_cursor_pages_walk_every_fixture_once(api: Api) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await get(api, "/v1/fixtures", "all", **params)).json()
        seen += [f["fixture_id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(E0), str(E1), str(NBA)]
    broken = await get(api, "/v1/fixtures", "all", cursor="not-a-cursor")
    assert broken.status_code == 400
    assert broken.json()["code"] == "invalid-cursor"
    foreign = (await get(api, f"/v1/fixtures/{E0}/odds", "all", limit=1)).json()["next_cursor"]
    assert (await get(api, "/v1/fixtures", "all", cursor=foreign)).json()["code"] == (
        "invalid-cursor"
    )


async def test_a_fixture_comes_with_its_latest_odds_and_forecasts(api: Api) -> None:
    detail = await get(api, f"/v1/fixtures/{E0}", "e0")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["fixture"]["home"] == "Arsenal"
    assert (body["fixture"]["venue"], body["fixture"]["venue_country"]) == (
        "Emirates Stadium",
        "England",
    )
    other = (await get(api, f"/v1/fixtures/{E1}", "all")).json()["fixture"]
    assert (other["venue"], other["venue_country"]) == (None, None)
    odds = {o["source"]: o for o in body["odds"]}
    assert odds["pinnacle"]["prices"] == {"home": "2.20", "draw": "3.30", "away": "3.50"}
    assert odds["bet365"]["decimal_prices"]["away"] == 3.70
    assert sum(odds["pinnacle"]["probabilities"].values()) == pytest.approx(1.0)
    kinds = {f["model_kind"]: f for f in body["forecasts"]}
    assert kinds["football-1x2"]["position"] == 20
    assert kinds["football-1x2"]["probabilities"] == {"home": 0.55, "draw": 0.25, "away": 0.2}
    assert kinds["football-inplay"]["position"] == 30


async def test_outside_the_plan_is_403_and_unknown_is_404(api: Api) -> None:
    for path in ("", "/forecasts/latest", "/forecasts", "/odds", "/comparison"):
        refused = await get(api, f"/v1/fixtures/{NBA}{path}", "e0")
        assert refused.status_code == 403, path
        assert refused.json()["code"] == "not-entitled"
        missing = await get(api, f"/v1/fixtures/{uuid4()}{path}", "all")
        assert missing.status_code == 404, path
        assert missing.json()["code"] == "fixture-not-found"


async def test_latest_forecasts_carry_an_etag_and_answer_304(api: Api) -> None:
    http, keys, pool = api
    path = f"/v1/fixtures/{E0}/forecasts/latest"
    first = await get(api, path, "e0")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert [f["position"] for f in first.json()["forecasts"]] == [20, 30]
    again = await http.get(path, headers={**bearer(keys["e0"]), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    async with pool.acquire() as conn:
        await insert_forecast(conn, 50, E0, "football-1x2", "football-1x2-aaa", [0.6, 0.2, 0.2])
    changed = await http.get(path, headers={**bearer(keys["e0"]), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert [f["position"] for f in changed.json()["forecasts"]] == [50, 30]


async def test_a_cached_latest_answer_still_checks_the_plan(postgres_url: str) -> None:
    async with caching_app(postgres_url) as (app, store, _pool):
        wide, _ = await make_key(store, Scope.FORECASTS_READ)
        narrow, _ = await make_key(store, Scope.FORECASTS_READ, plan=("basketball",))
        async with client(app) as http:
            path = f"/v1/fixtures/{E0}/forecasts/latest"
            assert (await http.get(path, headers=bearer(wide))).status_code == 200
            refused = await http.get(path, headers=bearer(narrow))
    assert refused.status_code == 403
    assert refused.json()["code"] == "not-entitled"


async def test_forecast_history_pages_in_issue_order_with_inputs(api: Api) -> None:
    path = f"/v1/fixtures/{E0}/forecasts"
    page1 = (await get(api, path, "e0", limit=2)).json()
    assert [f["position"] for f in page1["items"]] == [10, 20]
    assert page1["items"][0]["as_of_position"] == 9
    assert page1["items"][0]["features"] == FEATURES_10
    assert page1["items"][1]["features"] == {"elo_diff": 41.0}
    page2 = (await get(api, path, "e0", limit=2, cursor=page1["next_cursor"])).json()
    assert [f["position"] for f in page2["items"]] == [30]
    assert page2["items"][0]["features"] is None  # not kept by the read model then
    assert page2["next_cursor"] is None
    inplay = (await get(api, path, "e0", model_kind="football-inplay")).json()["items"]
    assert [f["model_id"] for f in inplay] == ["football-inplay-bbb"]


async def test_odds_history_pages_and_filters_by_source(api: Api) -> None:
    path = f"/v1/fixtures/{E0}/odds"
    page1 = (await get(api, path, "all", limit=2)).json()
    assert [(o["position"], o["source"]) for o in page1["items"]] == [
        (100, "pinnacle"),
        (101, "bet365"),
    ]
    page2 = (await get(api, path, "all", limit=2, cursor=page1["next_cursor"])).json()
    assert [o["position"] for o in page2["items"]] == [102]
    pinnacle = (await get(api, path, "all", source="pinnacle")).json()["items"]
    assert [o["prices"]["home"] for o in pinnacle] == ["2.10", "2.20"]


async def test_comparison_puts_model_market_and_best_price_side_by_side(api: Api) -> None:
    body = (await get(api, f"/v1/fixtures/{E0}/comparison", "e0")).json()
    pre = next(c for c in body["comparisons"] if c["model_kind"] == "football-1x2")
    home = next(o for o in pre["outcomes"] if o["outcome"] == "home")
    assert home["model"] == 0.55
    assert home["edge"] == pytest.approx(0.55 - 1 / 3)
    assert (home["best_price"], home["best_source"]) == (2.20, "pinnacle")
    away = next(o for o in pre["outcomes"] if o["outcome"] == "away")
    assert (away["best_price"], away["best_source"]) == (3.70, "bet365")


async def test_track_record_and_calibration_cover_only_the_plan(api: Api) -> None:
    everything = (await get(api, "/v1/track-record", "all")).json()
    assert {(r["model_id"], r["forecasts"]) for r in everything} == {
        ("football-1x2-aaa", 2),
        ("nba-ccc", 1),
    }
    football = next(r for r in everything if r["model_id"] == "football-1x2-aaa")
    assert football["model"]["rps"] == pytest.approx((0.17 + 0.14) / 2)
    assert football["market"]["rps"] == pytest.approx(0.2)
    assert [r["model_id"] for r in (await get(api, "/v1/track-record", "e0")).json()] == [
        "football-1x2-aaa"
    ]
    one = (await get(api, "/v1/track-record/football-1x2-aaa", "all")).json()
    bins = {(b["lower"], b["upper"]): b for b in one["calibration"]}
    # Six predictions: 0.5 and 0.55 (home, happened), 0.3, 0.25 (draw), 0.2, 0.2 (away).
    assert bins[(0.5, 0.6)]["forecasts"] == 2
    assert bins[(0.5, 0.6)]["observed"] == 1.0
    assert bins[(0.2, 0.3)]["forecasts"] == 3
    assert bins[(0.2, 0.3)]["observed"] == 0.0
    assert sum(b["forecasts"] for b in one["calibration"]) == 6
    hidden = (await get(api, "/v1/track-record/football-1x2-aaa", "basketball")).json()
    assert hidden["records"] == []
    assert hidden["calibration"] == []


async def test_feed_health_shows_the_plan_and_quarantine_to_admins(api: Api) -> None:
    narrow = (await get(api, "/v1/feed-health", "e0")).json()
    assert [(f["source"], f["competition"]) for f in narrow["feeds"]] == [("pinnacle", "E0")]
    assert 290 < narrow["feeds"][0]["seconds_since"] < 400
    assert narrow["quarantined"] is None
    admin = (await get(api, "/v1/feed-health", "admin")).json()
    assert len(admin["feeds"]) == 2
    assert admin["quarantined"] == {"impossible-book": 2, "validation-error": 1}


async def test_reads_need_forecasts_read_and_openapi_is_served(api: Api) -> None:
    http, _, _ = api
    refused = await get(api, "/v1/fixtures", "feed")
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient-scope"
    assert (await http.get("/v1/fixtures")).status_code == 401
    docs = await http.get("/docs")
    assert docs.status_code == 200
    openapi = (await http.get("/openapi.json")).json()
    paths = openapi["paths"]
    fixture = openapi["components"]["schemas"]["FixturePublic"]
    assert {"venue", "venue_country"} <= set(fixture["properties"])
    for path in (
        "/v1/fixtures",
        "/v1/fixtures/{fixture_id}",
        "/v1/fixtures/{fixture_id}/forecasts/latest",
        "/v1/fixtures/{fixture_id}/forecasts",
        "/v1/fixtures/{fixture_id}/comparison",
        "/v1/fixtures/{fixture_id}/odds",
        "/v1/track-record",
        "/v1/track-record/{model_id}",
        "/v1/feed-health",
        "/healthz",
        "/readyz",
    ):
        assert path in paths


async def test_cached_latest_answers_keep_etags_scopes_and_budgets(postgres_url: str) -> None:
    """With the answer copy on, hits are served before routing: same bytes, same ETag and
    304, and refusals (scope, budget) still come from the route."""
    async with caching_app(postgres_url) as (app, store, _pool):
        reader, _ = await make_key(store, Scope.FORECASTS_READ, rate=4)
        feeder, _ = await make_key(store, Scope.FEED_WRITE, provider="acme")
        path = f"/v1/fixtures/{E0}/forecasts/latest"
        served_fast = FastAnswers.count
        async with client(app) as http:
            first = await http.get(path, headers=bearer(reader))  # a miss: the route
            hit = await http.get(path, headers=bearer(reader))  # a hit: the fast path
            fresh = await http.get(
                path, headers={**bearer(reader), "If-None-Match": first.headers["etag"]}
            )
            spent = await http.get(path, headers=bearer(reader))
            over = await http.get(path, headers=bearer(reader))
            wrong_scope = await http.get(path, headers=bearer(feeder))
            anonymous = await http.get(path)
    assert FastAnswers.count - served_fast == 3  # hit, fresh and spent; refusals: the route
    assert first.status_code == hit.status_code == 200
    assert hit.content == first.content
    assert hit.headers["etag"] == first.headers["etag"]
    assert hit.headers["content-type"] == "application/json"
    assert fresh.status_code == 304
    assert spent.status_code == 200
    assert over.status_code == 429
    assert over.json()["code"] == "rate-limited"
    assert wrong_scope.json()["code"] == "insufficient-scope"
    assert anonymous.json()["code"] == "not-authenticated"


async def test_jwt_callers_and_head_requests_are_answered_from_the_copies(
    postgres_url: str,
) -> None:
    """A verified JWT is kept like an API key (until its exp at most), so its reads of a kept
    copy take the fast path; so do HEADs (the GET's headers, no body). A token whose plan does
    not cover the fixture still gets the route's 403."""
    local = Issuer()
    local.add_key("k1")
    with serving(local) as issuer:
        verifier = JwtVerifier(
            {issuer.url: IssuerKeys(issuer.jwks_url)}, audience="sportcast", limits=Limits(100, 2)
        )
        reader = bearer(issuer.token("k1", scope="forecasts:read", sportcast_plan=["football"]))
        foreign = bearer(issuer.token("k1", scope="forecasts:read", sportcast_plan=["basketball"]))
        async with caching_app(postgres_url, verifier) as (app, _store, _pool), client(app) as http:
            path = f"/v1/fixtures/{E0}/forecasts/latest"
            head_miss = await http.head(f"/v1/fixtures/{E1}/forecasts/latest", headers=reader)
            first = await http.get(path, headers=reader)  # a miss: the route
            served_fast = FastAnswers.count
            hit = await http.get(path, headers=reader)
            head = await http.head(path, headers=reader)
            fresh = await http.head(
                path, headers={**reader, "If-None-Match": first.headers["etag"]}
            )
            refused = await http.get(path, headers=foreign)
            fast = FastAnswers.count - served_fast
    assert head_miss.status_code == 200
    assert head_miss.headers["etag"]
    assert fast == 3  # the GET, the HEAD and the HEAD's 304; the refusal: the route
    assert hit.status_code == head.status_code == 200
    assert hit.content == first.content
    assert head.content == b""
    assert head.headers["etag"] == first.headers["etag"]
    assert head.headers["content-length"] == str(len(first.content))
    assert fresh.status_code == 304
    assert refused.status_code == 403


async def until(condition: Callable[[], object], what: str, within: float = 30.0) -> None:
    """Wait until ``condition()`` holds (a deadline for a loaded box, not a measure)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.02)


async def test_a_forecasts_commit_drops_the_cached_answers_at_once(postgres_url: str) -> None:
    """The projections NOTIFY each commit; a forecasts commit drops the copies, so a new
    forecast shows on the next read although the copies' life is 60 s."""
    async with caching_app(postgres_url) as (app, store, pool):
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        path = f"/v1/fixtures/{E0}/forecasts/latest"
        notices: list[str] = []

        def noted(payload: str) -> None:
            app.state.latest_cache.on_commit(payload)
            notices.append(payload)

        async with listening(postgres_url, COMMITS, noted), client(app) as http:
            before = await http.get(path, headers=bearer(reader))
            async with pool.acquire() as conn:
                await insert_forecast(conn, 60, E0, "football-1x2", "m", [0.6, 0.2, 0.2])
                await conn.execute("SELECT pg_notify($1, 'odds events 7')", COMMITS)
            await until(lambda: notices, "the odds notice")  # taken in, and kept the copies
            unrelated = await http.get(path, headers=bearer(reader))
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, 'forecasts forecasts 60')", COMMITS)
            await until(lambda: len(notices) == 2, "the forecasts notice")
            after = await http.get(path, headers=bearer(reader))
    assert unrelated.headers["etag"] == before.headers["etag"]  # an odds commit keeps them
    assert after.headers["etag"] != before.headers["etag"]
    assert [f["position"] for f in after.json()["forecasts"]] == [60, 30]


async def forecast_committed(pool: asyncpg.Pool, position: int, fixture: UUID) -> None:
    """A new latest forecast of ``fixture`` and the commit notice the projection sends for it."""
    async with pool.acquire() as conn:
        await insert_forecast(conn, position, fixture, "football-1x2", "m", [0.6, 0.2, 0.2])
        await conn.execute(
            "SELECT pg_notify($1, $2)",
            COMMITS,
            commit_notice("forecasts", "forecasts", position, {str(fixture)}),
        )


async def test_a_forecasts_commit_drops_only_the_fixtures_it_names(postgres_url: str) -> None:
    """A commit's notice names its fixtures (docs/adr/0029): E0's copy goes, E1's stays and is
    still answered from its copy (the fast path) with the same ETag."""
    async with caching_app(postgres_url) as (app, store, pool):
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        e0, e1 = (f"/v1/fixtures/{f}/forecasts/latest" for f in (E0, E1))
        async with (
            listening(postgres_url, COMMITS, app.state.latest_cache.on_commit),
            client(app) as http,
        ):
            before = {p: await http.get(p, headers=bearer(reader)) for p in (e0, e1)}
            await forecast_committed(pool, 61, E0)
            old = before[e0].headers["etag"]
            cache = app.state.latest_cache
            await until(lambda: (c := cache.get(E0)) is None or c.etag != old, "E0's copy dropped")
            after = await http.get(e0, headers=bearer(reader))
            served_fast = FastAnswers.count
            other = await http.get(e1, headers=bearer(reader))
    assert after.headers["etag"] != before[e0].headers["etag"]
    assert after.json()["forecasts"][0]["position"] == 61
    assert other.headers["etag"] == before[e1].headers["etag"]
    assert FastAnswers.count - served_fast == 1  # E1's copy was kept


class CountedReads(ReadModelQueries):
    """The real queries, counting the latest-forecast reads."""

    latest_reads = 0

    async def latest_forecasts_of(
        self, fixture_id: UUID
    ) -> tuple[str, str, list[ForecastRow]] | None:
        self.latest_reads += 1
        return await super().latest_forecasts_of(fixture_id)


async def test_a_dropped_copy_is_read_again_before_anyone_asks_and_misses_read_once(
    postgres_url: str,
) -> None:
    """A commit naming E0 drops its copy and the gateway reads it again at once (one query,
    no request waiting for it); 20 requests at once for a fixture not kept read it once."""
    async with caching_app(postgres_url) as (app, store, pool):
        reads = app.state.read_models = CountedReads(pool)
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        e0, e1 = (f"/v1/fixtures/{f}/forecasts/latest" for f in (E0, E1))
        cache = app.state.latest_cache
        async with (
            listening(postgres_url, COMMITS, cache.on_commit),
            client(app) as http,
        ):
            together = await asyncio.gather(
                *(http.get(e1, headers=bearer(reader)) for _ in range(20))
            )
            once = reads.latest_reads
            before = await http.get(e0, headers=bearer(reader))
            await forecast_committed(pool, 62, E0)
            for _ in range(1000):  # at most 20 s: the gateway's own copy, no request
                kept = cache.get(E0)
                if kept is not None and kept.etag != before.headers["etag"]:
                    break
                await asyncio.sleep(0.02)
            served_fast = FastAnswers.count
            after = await http.get(e0, headers=bearer(reader))
    assert all(r.status_code == 200 for r in together)
    assert once == 1
    assert reads.latest_reads == once + 2  # E0's first read and its refill
    assert FastAnswers.count - served_fast == 1  # answered from the refilled copy
    assert after.json()["forecasts"][0]["position"] == 62


async def test_a_commit_whose_notice_is_lost_drops_the_copies_at_the_next_check(
    postgres_url: str,
) -> None:
    """Nobody listens for the commit notices here: the watcher's reading of the projections'
    positions drops the copies, within two checks of the commit."""
    async with caching_app(postgres_url) as (app, store, pool):
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        path = f"/v1/fixtures/{E0}/forecasts/latest"
        cache = app.state.latest_cache
        readings: list[object] = []  # the watcher's readings, counted
        confirm = cache.confirm

        def counted(reading: Any, *, until: float) -> None:
            confirm(reading, until=until)
            readings.append(reading)

        cache.confirm = counted
        # Every 1 s: a copy is served until 2 s after its last reading began (a loaded box
        # must not let it lapse between a reading and the request that follows it).
        async with watching(cache, ReadModelQueries(pool), every=1.0), client(app) as http:
            await until(lambda: readings, "the first reading (it drops what was kept before)")
            before = await http.get(path, headers=bearer(reader))
            async with pool.acquire() as conn:
                await insert_forecast(conn, 70, E0, "football-1x2", "m", [0.6, 0.2, 0.2])
            seen = len(readings)
            await until(lambda: len(readings) >= seen + 2, "two readings")
            kept = await http.get(path, headers=bearer(reader))  # rows alone: the copy stays
            async with pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO rm_forecasts.projection_position (stream, position) "
                    "VALUES ('forecasts', 70) ON CONFLICT (stream) DO UPDATE SET position = 70"
                )
            seen = len(readings)
            await until(lambda: len(readings) >= seen + 2, "two readings after the commit")
            after = await http.get(path, headers=bearer(reader))
    assert kept.headers["etag"] == before.headers["etag"]
    assert after.headers["etag"] != before.headers["etag"]
    assert [f["position"] for f in after.json()["forecasts"]] == [70, 30]
