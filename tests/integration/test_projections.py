"""The PostgreSQL read models built from a real event store by the projection runner."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import date

import asyncpg
import numpy as np
import pytest
from eventsourcing.utils import get_topic

from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.forecast import FixtureForecasts
from domain.odds_book import OddsBook
from forecasting.metrics import brier_score, log_loss, ranked_probability_score
from infra.connections import listening
from infra.embedded.nats import EmbeddedNats
from infra.forecasting.service import forecaster_env
from infra.projections.logs import StoreEventLog
from projections.fixtures import FixturesProjection
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.stored import state_of
from readmodels.postgres import queries
from readmodels.postgres.consistency import PositionWaits
from readmodels.postgres.positions import CHANNEL
from tests.football_month import DATA, store_football, week_with_forecasts
from tests.projecting import project, table
from tests.unit.test_stored_state import same

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]


@pytest.fixture(scope="module")
def feed(nats_server: EmbeddedNats) -> dict[str, str]:
    """A week of real football and the forecasts of a small real model over it."""
    return week_with_forecasts(nats_server.url)


def streams(feed: dict[str, str]) -> dict[str, dict[str, str]]:
    env = {k: v for k, v in feed.items() if k != "FORECASTS"}
    return {"events": env, "forecasts": {**env, "NATS_STREAM": feed["FORECASTS"]}}


def test_fixtures_and_odds_rows_follow_every_event(feed: dict[str, str], postgres_url: str) -> None:
    status = project(streams(feed), postgres_url, ["fixtures", "odds"], page_size=700)
    assert all(s["state"] == "live" for s in status), status

    app = FeedIngestion(streams(feed)["events"])
    try:
        notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
        topics = Counter(n.topic for n in notifications)
        fixtures = table(postgres_url, "fixtures", "fixtures", "fixture_id")
        assert len(fixtures) == topics[get_topic(Fixture.Scheduled)] > 50
        history = table(postgres_url, "odds", "odds_history", "position")
        assert len(history) == topics[get_topic(OddsBook.OddsQuoted)] > 100
        latest = table(postgres_url, "odds", "odds_latest", "book_id")
        assert len(latest) == topics[get_topic(OddsBook.Opened)]

        finished = [f for f in fixtures if f["status"] == "finished"]
        assert finished
        for row in finished[:20]:
            fixture = app.repository.get(row["fixture_id"])
            assert (row["result_home"], row["result_away"]) == (
                fixture.result.home,
                fixture.result.away,
            )
            assert (row["competition"], row["season"], row["home"], row["away"]) == (
                fixture.competition,
                fixture.season,
                fixture.home,
                fixture.away,
            )
            assert row["kickoff"] == fixture.kickoff
        for row in latest[:30]:
            book = app.repository.get(row["book_id"])
            assert row["fixture_id"] == book.fixture_id
            assert row["quotes"] == book.quote_count
            if book.latest is not None:
                assert row["decimal_prices"] == list(book.latest.decimal_prices)
                assert row["probabilities"] == list(book.latest.probabilities)
                assert row["margin_method"] == str(book.latest.margin_method)
    finally:
        app.close()


def test_every_stored_state_parses_as_with_the_json_module(feed: dict[str, str]) -> None:
    """The projections parse states with orjson: on real events (a week of football, its
    forecasts) every value is what the json module reads, types included."""
    plain = json.JSONDecoder().decode
    checked: Counter[str] = Counter()
    for env in streams(feed).values():
        app = FeedIngestion(env)
        try:
            for n in app.recorder.select_notifications(start=1, limit=1_000_000):
                assert same(state_of(n.state), plain(n.state.decode("utf8"))), n
                checked[n.topic.rsplit(":", 1)[-1]] += 1
        finally:
            app.close()
    assert checked["FixtureForecasts.ForecastIssued"] > 50
    assert checked["OddsBook.OddsQuoted"] > 100
    assert len(checked) >= 8, checked


def issued(feed: dict[str, str]) -> list[FixtureForecasts.ForecastIssued]:
    env = streams(feed)["events"]
    reader = Forecaster(forecaster_env(env, feed["FORECASTS"]))
    try:
        events = [
            reader.mapper.to_domain_event(n)
            for n in reader.recorder.select_notifications(start=1, limit=100_000)
        ]
        return [e for e in events if isinstance(e, FixtureForecasts.ForecastIssued)]
    finally:
        reader.close()


def test_forecasts_and_the_track_record_score_every_settled_forecast(
    feed: dict[str, str], postgres_url: str
) -> None:
    project(streams(feed), postgres_url, ["fixtures", "forecasts", "track_record"], page_size=300)
    events = issued(feed)
    assert len(events) > 50
    history = table(postgres_url, "forecasts", "forecasts", "position")
    assert [(r["fixture_id"], r["trigger"], r["probabilities"]) for r in history] == [
        (e.fixture_id, e.trigger, list(e.probabilities)) for e in events
    ]
    assert [json.loads(r["features"]) for r in history] == [dict(e.features) for e in events]
    assert any(e.features for e in events)
    latest = table(postgres_url, "forecasts", "latest_forecasts", "fixture_id")
    newest = {e.fixture_id: e for e in events}  # in log order: the last one stays
    assert {r["fixture_id"]: r["version"] for r in latest} == {
        f: e.originator_version for f, e in newest.items()
    }

    results = {
        r["fixture_id"]: (r["result_home"], r["result_away"])
        for r in table(postgres_url, "fixtures", "fixtures", "fixture_id")
        if r["result_home"] is not None
    }
    settled = [e for e in events if e.fixture_id in results]
    assert settled
    rows = {
        r["position"]: r
        for r in table(postgres_url, "track_record", "settled_forecasts", "position")
    }
    assert len(rows) == len(events)
    assert sum(r["outcome"] is not None for r in rows.values()) == len(settled)

    def outcome(fixture_id: uuid.UUID) -> int:
        home, away = results[fixture_id]
        return 0 if home > away else (1 if home == away else 2)

    opened = [e for e in settled if e.trigger == "odds-opened"]
    p = np.array([e.probabilities for e in opened])
    m = np.array([e.market_probabilities for e in opened])
    o = np.array([outcome(e.fixture_id) for e in opened])

    async def read() -> tuple[list[queries.TrackRecordRow], list[queries.CalibrationBin]]:
        conn = await asyncpg.connect(postgres_url)
        try:
            record = await queries.track_record(conn, track="odds-open")
            bins = await queries.calibration(conn, track="odds-open")
            return record, bins
        finally:
            await conn.close()

    record, bins = asyncio.run(read())
    assert sum(r.forecasts for r in record) == len(opened)
    weighted = sum(r.rps * r.forecasts for r in record) / len(opened)
    assert weighted == pytest.approx(ranked_probability_score(p, o), abs=1e-12)
    market = sum(r.market_rps * r.forecasts for r in record) / len(opened)
    assert market == pytest.approx(ranked_probability_score(m, o), abs=1e-12)
    lls = sum(r.log_loss * r.forecasts for r in record) / len(opened)
    assert lls == pytest.approx(log_loss(p, o), abs=1e-12)
    briers = sum(r.brier * r.forecasts for r in record) / len(opened)
    assert briers == pytest.approx(brier_score(p, o), abs=1e-12)
    assert sum(b.count for b in bins) == 3 * len(opened)
    assert all(b.low <= b.mean_predicted < b.high or b.high == 1.0 for b in bins)


def test_a_rebuild_switches_in_while_the_live_projection_keeps_going(
    feed: dict[str, str], postgres_url: str
) -> None:
    env = streams(feed)["events"]

    async def main() -> None:
        log = await asyncio.to_thread(StoreEventLog, "events", env)
        pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=2)
        try:
            head = await log.head()
            live = ProjectionRunner(
                [FixturesProjection(postgres_url)], {"events": log}, page_size=50
            )
            waits = PositionWaits(pool)
            async with live, listening(postgres_url, CHANNEL, waits.on_commit):
                assert await waits.wait_for({"events": head}, within=60)
                assert not await waits.wait_for({"events": head + 1000}, within=0.3)
                before = await queries.list_fixtures(pool, limit=10_000)
                done = await rebuild(
                    FixturesProjection, {"events": log}, postgres_url, page_size=70
                )
                assert done.positions == {"events": head}
                after = await queries.list_fixtures(pool, limit=10_000)
                assert after == before
                schemas = {
                    r["nspname"] for r in await pool.fetch("SELECT nspname FROM pg_namespace")
                }
                assert "rm_fixtures" in schemas
                assert not {"rm_fixtures__rebuild", "rm_fixtures__retired"} & schemas
                # The live runner goes on writing into the switched-in schema.
                store_football(env, date(2016, 3, 8), date(2016, 3, 9))
                new_head = await log.head()
                assert new_head > head
                assert await live.wait_for({"events": new_head}, 60)
                assert await waits.wait_for({"events": new_head}, within=30)
                grown = await queries.list_fixtures(pool, limit=10_000)
                assert len(grown) > len(after)
                assert live.statuses["fixtures"].error is None
        finally:
            await pool.close()
            await asyncio.to_thread(log.close)

    asyncio.run(main())
