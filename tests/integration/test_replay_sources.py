"""NBA and World Cup replays into the real event store: what the files say is what is stored.

Expected values are read from the CSVs with the dataset readers (not from the replay code), so a
replay that dropped, duplicated or misread an event fails here.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest

from commands.ingestion import FeedIngestion
from domain.fixture import Fixture, FixtureStatus
from domain.sport import Sport
from infra.bootstrap import event_store_env
from infra.feeds.datasets import (
    MalformedRow,
    read_nba,
    read_worldcup_bookings,
    read_worldcup_goals,
    read_worldcup_matches,
)
from infra.feeds.replay import Replay
from infra.settings import Settings
from tests.replaying import play

pytestmark = pytest.mark.slow

WORLD_CUP_FINAL = date(2018, 7, 15)
NBA_DAY = date(2019, 1, 21)  # Martin Luther King Jr. Day: a full slate of games


@pytest.fixture
def data_dir() -> Path:
    settings = Settings()
    if not (settings.data_dir / "nba" / "games.csv").exists():
        pytest.skip(f"no datasets at {settings.data_dir} (set SPORTCAST_DATA_DIR)")
    return settings.data_dir


def stored_fixtures(settings: Settings, url: str) -> tuple[int, dict[UUID, Fixture]]:
    app = FeedIngestion(event_store_env(settings, url))
    try:
        head = app.recorder.max_notification_id() or 0
        ids = {
            n.originator_id
            for n in app.recorder.select_notifications(start=1, limit=head)
            if n.topic.endswith("Fixture.Scheduled")
        }
        fixtures = {UUID(str(i)): app.repository.get(i) for i in ids}
        return head, fixtures  # type: ignore[return-value]
    finally:
        app.close()


def test_world_cup_final_is_stored_goal_by_goal_and_card_by_card(
    data_dir: Path, nats_url: str, unique_name: str
) -> None:
    settings = Settings(data_dir=data_dir, stream_name=unique_name)
    final = next(
        m
        for m in read_worldcup_matches(data_dir)
        if not isinstance(m, MalformedRow) and m.match_date == WORLD_CUP_FINAL
    )
    goals = [
        g
        for g in read_worldcup_goals(data_dir)
        if not isinstance(g, MalformedRow) and g.match_id == final.match_id
    ]
    bookings = [
        b
        for b in read_worldcup_bookings(data_dir)
        if not isinstance(b, MalformedRow) and b.match_id == final.match_id
    ]
    window = Replay(data_dir, since=WORLD_CUP_FINAL, until=WORLD_CUP_FINAL)

    report = play(settings, nats_url, "worldcup", window)
    head, fixtures = stored_fixtures(settings, nats_url)

    assert not report.refused
    (fixture,) = fixtures.values()
    assert (fixture.home, fixture.away) == (final.home, final.away)
    assert fixture.status == FixtureStatus.FINISHED
    assert (fixture.result.home, fixture.result.away) == (final.home_goals, final.away_goals)
    assert (fixture.result.home, fixture.result.away) == (4, 2)  # France 4-2 Croatia
    assert fixture.goals_recorded.home + fixture.goals_recorded.away == len(goals)
    recorded = Counter(type(e).__name__ for e in stored_events(settings, nats_url, fixture.id))
    assert recorded["GoalScored"] == len(goals)
    assert recorded["CardShown"] == len(bookings)

    again = play(settings, nats_url, "worldcup", window)
    assert stored_fixtures(settings, nats_url)[0] == head  # replaying twice adds nothing
    assert again.events_stored == 0


def test_an_nba_day_is_stored_with_quarter_scores_and_results(
    data_dir: Path, nats_url: str, unique_name: str
) -> None:
    settings = Settings(data_dir=data_dir, stream_name=unique_name)
    games = [
        g for g in read_nba(data_dir) if not isinstance(g, MalformedRow) and g.game_date == NBA_DAY
    ]
    assert len(games) >= 5, "the chosen day should have a full slate"

    report = play(settings, nats_url, "nba", Replay(data_dir, since=NBA_DAY, until=NBA_DAY))
    _, fixtures = stored_fixtures(settings, nats_url)

    assert not report.refused
    by_teams = {(f.home, f.away): f for f in fixtures.values()}
    assert len(by_teams) == len(games)
    for game in games:
        fixture = by_teams[(game.home, game.away)]
        assert fixture.sport == Sport.BASKETBALL
        assert fixture.status == FixtureStatus.FINISHED
        assert (fixture.result.home, fixture.result.away) == (game.home_points, game.away_points)
        periods = [
            e
            for e in stored_events(settings, nats_url, fixture.id)
            if type(e).__name__ == "PeriodEnded"
        ]
        quarters = [
            (h, a)
            for n, (h, a) in enumerate(zip(game.home_quarters, game.away_quarters, strict=True), 1)
            if h is not None and a is not None and not (n > 4 and h == a == 0)  # no overtime
        ]
        assert len(periods) == len(quarters)
        assert [p.period for p in periods] == list(range(1, len(quarters) + 1))
        assert (periods[-1].score.home, periods[-1].score.away) == (
            sum(h for h, _ in quarters),
            sum(a for _, a in quarters),
        )


def stored_events(settings: Settings, url: str, fixture_id: UUID) -> list[Fixture.Event]:
    app = FeedIngestion(event_store_env(settings, url))
    try:
        return list(app.repository.event_store.get(fixture_id))  # type: ignore[arg-type]
    finally:
        app.close()
