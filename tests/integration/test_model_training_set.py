"""The training set read from the event store equals the CSV evaluation's, row for row."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from benchmarks.eval_football import build_features, read_matches
from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.odds import Market
from domain.provenance import Provenance
from infra.embedded.nats import EmbeddedNats
from infra.feeds.messages import FeedMessage
from infra.feeds.replay import Replay
from infra.forecasting.history import max_position, position_before, read_history

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
SINCE, UNTIL = date(2016, 2, 1), date(2016, 2, 9)
pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}")


def match_result_only(message: FeedMessage) -> bool:
    # Over/under and both-teams-to-score quotes never reach the 1X2 features: skip their writes.
    return message.kind != "odds" or message.key.endswith(f"-{Market.MATCH_RESULT}")


@pytest.fixture(scope="module")
def feeds(nats_server: EmbeddedNats) -> Iterator[FeedIngestion]:
    app = FeedIngestion(
        {
            "PERSISTENCE_MODULE": "infra.eventstore",
            "NATS_URL": nats_server.url,
            "NATS_STREAM": f"T{uuid.uuid4().hex[:12].upper()}",
        }
    )
    received = Provenance(source="test", received_at=datetime.now(UTC))
    messages = Replay(DATA, since=SINCE, until=UNTIL).messages("football")
    for message in filter(match_result_only, messages):
        with contextlib.suppress(DomainError):  # impossible prices are refused, as live
            app.handle(message.build(message.key, received))
    yield app
    app.close()


def test_event_store_rows_equal_the_csv_evaluation_rows(feeds: FeedIngestion) -> None:
    csv_matches = [
        m for m in read_matches(DATA / "football") if SINCE <= m.fixture.kickoff.date() <= UNTIL
    ]
    csv_rows = {
        (s.fixture.kickoff, s.fixture.home, s.fixture.away): s for s in build_features(csv_matches)
    }

    history = read_history(feeds)

    assert history.cutoff_position == max_position(feeds)
    assert len(csv_rows) > 80  # a real sample, several competitions
    assert len(history.rows) == len(csv_rows)
    for row in history.rows:
        csv = csv_rows[(row.fixture.kickoff, row.fixture.home, row.fixture.away)]
        assert row.features == csv.features, row.fixture
        assert row.outcome == csv.outcome
        assert row.closing == csv.closing
        assert row.season == csv.fixture.season
        assert row.competition == csv.fixture.competition.replace("/", "-")


def test_a_cutoff_position_sees_only_the_log_before_it(feeds: FeedIngestion) -> None:
    everything = read_history(feeds)
    early = read_history(feeds, cutoff=everything.cutoff_position // 2)

    assert early.cutoff_position == everything.cutoff_position // 2
    assert 0 < len(early.rows) < len(everything.rows)


def test_a_date_cut_off_is_the_log_before_the_first_match_from_that_date(
    feeds: FeedIngestion,
) -> None:
    until = datetime(2016, 2, 5, tzinfo=UTC)
    cutoff = position_before(feeds, until)
    everything = read_history(feeds)
    before = read_history(feeds, cutoff=cutoff)
    assert 0 < len(before.rows) < len(everything.rows)
    assert all(r.fixture.kickoff < until for r in before.rows)
    # every match played before the date is in, as the full log has it
    played_before = [r for r in everything.rows if r.fixture.kickoff < until]
    assert [r.fixture.fixture_id for r in before.rows] == [
        r.fixture.fixture_id for r in played_before
    ]
    assert position_before(feeds, datetime(2030, 1, 1, tzinfo=UTC)) == max_position(feeds)
