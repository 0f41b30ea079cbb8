"""The feed-health process on the real JetStream event store, following a real FeedIngestion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.projection import EventSourcedProjectionRunner
from eventsourcing.utils import get_topic
from prometheus_client import REGISTRY, generate_latest
from typer.testing import CliRunner

from commands.feed_health import FeedHealth
from commands.fixture import ScheduleFixture, StartFixture
from commands.ingestion import Accepted, FeedIngestion
from commands.odds import RecordOdds
from domain.feed_health import FeedBoard, OddsWatch
from domain.odds import MarginMethod, Market, Outcome, PriceFormat
from domain.provenance import Provenance
from domain.sport import Sport
from infra.bootstrap import FeedHealthBoard, feed_health_service
from infra.cli import app as cli
from infra.embedded.ports import free_port
from infra.feed_health import FeedHealthService
from infra.settings import Settings
from infra.telemetry import configure_metrics
from tests.metrics_support import value

SPORTCAST = str(Path(sys.executable).parent / "sportcast")
KICKOFF = datetime(2018, 7, 15, 15, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF - timedelta(days=3))
WINDOW = timedelta(hours=3)
STALE_AFTER = timedelta(minutes=15)
Runner = EventSourcedProjectionRunner[FeedIngestion, FeedHealth]


def schedule(
    home: str, away: str, kickoff: datetime = KICKOFF, competition: str = "world-cup"
) -> ScheduleFixture:
    return ScheduleFixture(
        idempotency_key=f"schedule-{home}-{away}",
        provenance=FEED,
        sport=Sport.FOOTBALL,
        competition=competition,
        season="2018",
        home=home,
        away=away,
        kickoff=kickoff,
    )


FINAL = schedule("France", "Croatia")


def quote(
    quoted_at: datetime, source: str = "pinnacle", fixture: ScheduleFixture = FINAL
) -> RecordOdds:
    return RecordOdds(
        idempotency_key=f"odds-{fixture.home}-{source}-{quoted_at.isoformat()}",
        provenance=FEED,
        fixture_id=fixture.fixture_id,
        source=source,
        market=Market.MATCH_RESULT,
        prices={Outcome.HOME: "1.95", Outcome.DRAW: "3.30", Outcome.AWAY: "4.60"},
        price_format=PriceFormat.DECIMAL,
        margin_method=MarginMethod.PROPORTIONAL,
        quoted_at=quoted_at,
    )


@pytest.fixture
def env(nats_url: str, unique_name: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": nats_url,
        "NATS_STREAM": unique_name,
        "FEEDHEALTH_NATS_STREAM": f"{unique_name}_HEALTH",
    }


@pytest.fixture
def ingestion(env: dict[str, str]) -> Iterator[FeedIngestion]:
    app = FeedIngestion(env)
    yield app
    app.close()


def run(env: dict[str, str]) -> Runner:
    return EventSourcedProjectionRunner(
        application_class=FeedIngestion, projection_class=FeedHealth, env=env
    )


def caught_up(runner: Runner, accepted: Accepted) -> FeedHealth:
    runner.wait(accepted.notification_ids[-1], timeout=30)
    return runner.projection


def stored(process: FeedHealth, event_class: type[object]) -> int:
    topic = get_topic(event_class)
    return len(process.recorder.select_notifications(start=1, limit=10_000, topics=[topic]))


def test_stale_odds_are_reported_once_per_episode_and_never_again_after_a_restart(
    env: dict[str, str], ingestion: FeedIngestion
) -> None:
    ingestion.handle(FINAL)
    last = ingestion.handle(quote(KICKOFF - timedelta(hours=5)))
    now = KICKOFF - timedelta(hours=2)

    with run(env) as runner:
        process = caught_up(runner, last)
        [alert] = process.check(now, window=WINDOW, stale_after=STALE_AFTER)
        assert alert.fixture_id == FINAL.fixture_id
        assert alert.last_quote_at == KICKOFF - timedelta(hours=5)
        assert stored(process, OddsWatch.OddsWentStale) == 1

        assert (
            process.check(now + timedelta(minutes=1), window=WINDOW, stale_after=STALE_AFTER) == []
        )
        assert stored(process, OddsWatch.OddsWentStale) == 1

        # a new quote ends the episode; the next silence is reported again
        process = caught_up(runner, ingestion.handle(quote(KICKOFF - timedelta(minutes=90))))
        assert (
            process.check(KICKOFF - timedelta(minutes=80), window=WINDOW, stale_after=STALE_AFTER)
            == []
        )
        assert (
            len(
                process.check(
                    KICKOFF - timedelta(minutes=30), window=WINDOW, stale_after=STALE_AFTER
                )
            )
            == 1
        )
        assert stored(process, OddsWatch.OddsWentStale) == 2
        quotes_seen = stored(process, OddsWatch.QuoteSeen)
        assert quotes_seen == 2

    # While the process is down, the feed schedules another fixture.
    later = ingestion.handle(schedule("Belgium", "England", KICKOFF + timedelta(days=1)))

    with run(env) as runner:
        process = caught_up(runner, later)
        # Only the new fixture was processed: re-processing the old events would have tried
        # to open the first watch again and failed the runner (wait() re-raises that).
        assert stored(process, OddsWatch.Opened) == 2
        assert stored(process, OddsWatch.QuoteSeen) == quotes_seen
        assert process.recorder.max_tracking_id(ingestion.name) == later.notification_ids[-1]
        assert (
            process.check(KICKOFF - timedelta(minutes=20), window=WINDOW, stale_after=STALE_AFTER)
            == []
        )
        assert stored(process, OddsWatch.OddsWentStale) == 2
        runner.run_forever(timeout=0.01)  # re-raises an error of the processing thread


def test_the_cli_prints_the_board_as_json(
    env: dict[str, str], ingestion: FeedIngestion, nats_url: str
) -> None:
    """`sportcast feed health --json` reads the feed-health process's stream: every source and
    competition with its last quote, stalest first (issue 16: --json on list commands)."""
    ingestion.handle(FINAL)
    ingestion.handle(quote(KICKOFF - timedelta(hours=5), source="pinnacle"))
    last = ingestion.handle(quote(KICKOFF - timedelta(hours=1), source="bet365"))
    with run(env) as runner:
        caught_up(runner, last)
        result = CliRunner().invoke(
            cli,
            ["feed", "health", "--stream", env["FEEDHEALTH_NATS_STREAM"], "--json"],
            env={"SPORTCAST_NATS_URL": nats_url},
        )
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert [(f["source"], f["competition"], f["last_quote_at"]) for f in board["feeds"]] == [
        ("pinnacle", "world-cup", (KICKOFF - timedelta(hours=5)).isoformat()),
        ("bet365", "world-cup", (KICKOFF - timedelta(hours=1)).isoformat()),
    ]
    as_of = datetime.fromisoformat(board["as_of"])
    for f in board["feeds"]:
        since = as_of - datetime.fromisoformat(f["last_quote_at"])
        assert f["seconds_since"] == pytest.approx(since.total_seconds())


def test_the_table_shows_the_last_quote_per_source_and_competition(
    env: dict[str, str], ingestion: FeedIngestion
) -> None:
    ingestion.handle(FINAL)
    ingestion.handle(quote(KICKOFF - timedelta(hours=5), source="pinnacle"))
    ingestion.handle(quote(KICKOFF - timedelta(hours=1), source="bet365"))
    ingestion.handle(
        StartFixture(idempotency_key="ko", provenance=FEED, fixture_id=FINAL.fixture_id)
    )
    # in-play odds still tell the feed is alive, though the fixture is no longer watched
    last = ingestion.handle(quote(KICKOFF + timedelta(minutes=10), source="pinnacle"))

    with run(env) as runner:
        process = caught_up(runner, last)
        rows = process.feed_pulses(KICKOFF + timedelta(minutes=20))
        assert [(r.source, r.competition, r.last_quote_at, r.seconds_since) for r in rows] == [
            ("bet365", "world-cup", KICKOFF - timedelta(hours=1), 4800.0),
            ("pinnacle", "world-cup", KICKOFF + timedelta(minutes=10), 600.0),
        ]
        assert (
            process.check(KICKOFF - timedelta(minutes=1), window=WINDOW, stale_after=STALE_AFTER)
            == []
        )
        assert stored(process, FeedBoard.WatchDelisted) == 1


def test_the_service_checks_on_a_timer_once_caught_up_and_reports_once(
    env: dict[str, str], ingestion: FeedIngestion
) -> None:
    configure_metrics("sportcast-test")  # the process's meter provider, read by /metrics
    alerts_before = _stale_alerts()
    ingestion.handle(FINAL)
    last = ingestion.handle(quote(KICKOFF - timedelta(hours=5)))
    service = FeedHealthService(
        env,
        interval=0.05,
        window=WINDOW,
        stale_after=STALE_AFTER,
        clock=lambda: KICKOFF - timedelta(hours=1),
    )
    checks: list[datetime | None] = []  # the timer's checks, counted
    check = service.check

    def counted(now: datetime | None = None) -> list[UUID]:
        checks.append(now)
        return check(now)

    service.check = counted  # type: ignore[method-assign]
    with service:
        service.projection.recorder.wait(ingestion.name, last.notification_ids[-1], timeout=30)
        assert service.caught_up()
        deadline = time.monotonic() + 30
        while stored(service.projection, OddsWatch.OddsWentStale) == 0:
            assert time.monotonic() < deadline, "the timer never reported the stale odds"
            time.sleep(0.05)
        then = len(checks)
        while len(checks) < then + 3:  # three more checks on the timer (counted, not timed)
            assert time.monotonic() < deadline, "the timer stopped checking"
            time.sleep(0.05)
        assert stored(service.projection, OddsWatch.OddsWentStale) == 1
    # Stale feeds on /metrics: the one fixture reported once, however many checks followed.
    assert _stale_alerts() == alerts_before + 1


def _stale_alerts() -> float:
    text = generate_latest(REGISTRY).decode()
    return value(text, "sportcast_feeds_stale_alerts_total") or 0.0


async def test_a_gateway_without_feed_health_reads_its_board_from_the_stream(
    nats_url: str, unique_name: str, ingestion: FeedIngestion
) -> None:
    """Compose runs feed health as its own service: the gateway answers from the stream."""
    ingestion.handle(FINAL)
    last = ingestion.handle(quote(KICKOFF - timedelta(hours=5)))
    settings = Settings(
        nats_url=nats_url, stream_name=unique_name, feed_health_stream=f"{unique_name}_HEALTH"
    )
    service = feed_health_service(settings, nats_url)  # as `sportcast serve feed-health` runs it
    board = FeedHealthBoard(settings, nats_url)
    service.start()
    try:
        service.projection.recorder.wait(ingestion.name, last.notification_ids[-1], timeout=30)
        now = KICKOFF - timedelta(hours=4)
        expected = await service.pulses(now)
        assert [p.source for p in expected] == ["pinnacle"]
        assert await board.pulses(now) == expected
    finally:
        service.stop()
        board.close()


def test_sportcast_serve_feed_health_shows_its_follower_state_on_metrics(
    nats_url: str, unique_name: str, ingestion: FeedIngestion
) -> None:
    """Compose scrapes the follower services on SPORTCAST_METRICS_PORT (no HTTP of their own)."""
    ingestion.handle(FINAL)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": nats_url,
        "SPORTCAST_STREAM_NAME": unique_name,
        "SPORTCAST_FEED_HEALTH_STREAM": f"{unique_name}_HEALTH",
        "SPORTCAST_METRICS_PORT": str(port),
    }
    process = subprocess.Popen(
        [SPORTCAST, "serve", "feed-health"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "serve feed-health exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    scrape = r.read().decode()
                if "sportcast_follower_stopped" in scrape:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no follower gauge on /metrics in 30 s"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    [line] = [
        line
        for line in scrape.splitlines()
        if line.startswith("sportcast_follower_stopped{") and 'follower="feed health"' in line
    ]
    assert line.endswith(" 0.0")
    assert process.returncode == 0
