"""The feed-health and quarantine read models with real rows: the feed-health process's own
events (quotes seen, odds that went stale) and payloads the quarantine really holds, projected
into PostgreSQL and read back through the API's queries."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg
import nats
import pytest
from eventsourcing.projection import EventSourcedProjectionRunner
from nats.aio.client import Client

from commands.feed_health import FeedHealth
from commands.ingestion import FeedIngestion
from commands.intake import RefusedPayload
from infra.feeds.quarantine import Quarantine
from infra.projections.logs import QuarantineLog
from projections.quarantine import QuarantineProjection
from projections.runner import ProjectionRunner
from readmodels.postgres import queries
from tests.integration.test_feed_health import FINAL, KICKOFF, env, ingestion, quote, schedule
from tests.projecting import project, table

__all__ = ["env", "ingestion"]  # the fixtures, shared with test_feed_health

T = TypeVar("T")


def fetch(postgres_url: str, call: Callable[[asyncpg.Connection], Awaitable[list[T]]]) -> list[T]:
    async def main() -> list[T]:
        conn = await asyncpg.connect(postgres_url)
        try:
            return await call(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def test_feed_health_rows_are_the_feed_health_process_s_own_events(
    env: dict[str, str], ingestion: FeedIngestion, postgres_url: str
) -> None:
    league = schedule("Leeds", "Hull", competition="championship")
    ingestion.handle(FINAL)
    ingestion.handle(league)
    ingestion.handle(quote(KICKOFF - timedelta(hours=6), "pinnacle"))
    ingestion.handle(quote(KICKOFF - timedelta(hours=5), "pinnacle"))  # newer wins
    ingestion.handle(quote(KICKOFF - timedelta(hours=4), "bet365"))
    last = ingestion.handle(quote(KICKOFF - timedelta(hours=3), "pinnacle", league))
    now = KICKOFF - timedelta(hours=2)
    runner = EventSourcedProjectionRunner(
        application_class=FeedIngestion, projection_class=FeedHealth, env=env
    )
    with runner:
        runner.wait(last.notification_ids[-1], timeout=30)
        process = runner.projection
        alerts = process.check(now, window=timedelta(hours=3), stale_after=timedelta(minutes=30))
        board = process.feed_pulses(now)
    assert len(alerts) == 2  # both fixtures went stale
    assert len(board) == 3  # three pulses: (world-cup, pinnacle), (world-cup, bet365), league

    health = {**env, "NATS_STREAM": env["FEEDHEALTH_NATS_STREAM"]}
    project({"feed_health": health}, postgres_url, ["feed_health"])

    pulses = fetch(postgres_url, lambda conn: queries.feed_pulses(conn, now))
    assert [(p.source, p.competition, p.last_quote_at, p.seconds_since) for p in pulses] == [
        (b.source, b.competition, b.last_quote_at, b.seconds_since) for b in board
    ]
    assert ("pinnacle", "world-cup", KICKOFF - timedelta(hours=5)) in [
        (p.source, p.competition, p.last_quote_at) for p in pulses
    ]
    episodes = table(postgres_url, "feed_health", "stale_episodes", "position")
    assert [
        (
            e["fixture_id"],
            e["competition"],
            e["kickoff"],
            e["last_quote_at"],
            e["checked_at"],
            e["stale_after_seconds"],
        )
        for e in episodes
    ] == [
        (
            a.fixture_id,
            a.competition,
            a.kickoff,
            a.last_quote_at,
            a.checked_at,
            a.stale_after_seconds,
        )
        for a in alerts
    ]
    assert {e["competition"] for e in episodes} == {"world-cup", "championship"}


@pytest.fixture
async def held(nats_url: str, unique_name: str) -> AsyncIterator[tuple[Client, Quarantine]]:
    nc = await nats.connect(nats_url)
    quarantine = Quarantine(nc.jetstream(), stream=unique_name, prefix=unique_name.lower())
    await quarantine.ensure_stream()
    yield nc, quarantine
    await nc.close()


def refused(raw: bytes, source: str, reason: str) -> RefusedPayload:
    return RefusedPayload(raw=raw, source=source, kind="odds", reason_code=reason, reason="r")


async def test_quarantine_rows_are_the_held_payloads_counted_by_reason(
    held: tuple[Client, Quarantine], postgres_url: str
) -> None:
    nc, quarantine = held
    first = await quarantine.hold(refused(b"a", "acme", "impossible-book"))
    await quarantine.hold(refused(b"b", "acme", "impossible-book"))
    await quarantine.hold(refused(b"c", "acme", "unknown-fixture"))
    await quarantine.hold(refused(b"d", "other", "impossible-book"))
    assert await quarantine.hold(refused(b"a", "acme", "impossible-book")) == first  # held once
    await quarantine.resolve(first, "accepted")  # a retry's outcome: not a held payload
    await quarantine.hold(refused(b"e", "other", "implausible-time"))

    log = QuarantineLog(nc, quarantine.stream, quarantine.prefix)
    runner = ProjectionRunner([QuarantineProjection(postgres_url)], {"quarantine": log})
    async with runner:
        assert await runner.caught_up(30), runner.status()

    listed = await quarantine.list()
    rows = await asyncio.to_thread(table, postgres_url, "quarantine", "held", "seq")
    assert [(r["seq"], r["source"], r["kind"], r["reason_code"]) for r in rows] == [
        (h.seq, h.source, h.kind, h.reason_code) for h in sorted(listed, key=lambda h: h.seq)
    ]
    assert all(
        r["received_at"] == datetime.fromisoformat(h.received_at)
        for r, h in zip(rows, sorted(listed, key=lambda h: h.seq), strict=True)
    )
    conn = await asyncpg.connect(postgres_url)
    try:
        counts = await queries.quarantine_counts(conn)
    finally:
        await conn.close()
    assert [(c.reason_code, c.source, c.held) for c in counts] == [
        ("impossible-book", "acme", 2),  # most first, then by reason code and source
        ("implausible-time", "other", 1),
        ("impossible-book", "other", 1),
        ("unknown-fixture", "acme", 1),
    ]
    assert sum(Counter(h.reason_code for h in listed).values()) == len(rows) == 5
