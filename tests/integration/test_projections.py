"""The PostgreSQL read models built from a real event store by the projection runner."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from eventsourcing.utils import get_topic

from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from infra.feeds.replay import Replay
from tests.projecting import project, table

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]


@pytest.fixture(scope="module")
def feed(nats_server: object) -> dict[str, str]:
    """A week of real football in a fresh stream, as the ingestion stores it."""
    import uuid

    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_server.url,  # type: ignore[attr-defined]
        "NATS_STREAM": f"T{uuid.uuid4().hex[:12].upper()}",
    }
    app = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    for message in Replay(DATA, since=date(2016, 3, 1), until=date(2016, 3, 7)).messages(
        "football"
    ):
        with contextlib.suppress(DomainError):
            app.handle(message.build(message.key, received))
    app.close()
    return env


def test_fixtures_and_odds_rows_follow_every_event(feed: dict[str, str], postgres_url: str) -> None:
    status = project({"events": feed}, postgres_url, ["fixtures", "odds"], page_size=700)
    assert all(s["state"] == "live" for s in status), status

    app = FeedIngestion(feed)
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
