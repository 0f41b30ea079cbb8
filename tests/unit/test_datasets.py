"""The dataset readers parse every row of the real files and keep each row's raw bytes."""

from __future__ import annotations

import os
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from commands.fixture import ScheduleFixture
from domain.provenance import Provenance
from infra.feeds.datasets import (
    FOOTBALL_TZ,
    FootballMatchRow,
    MalformedRow,
    NbaGameRow,
    WorldCupBookingRow,
    WorldCupGoalRow,
    WorldCupMatchRow,
    _football_kickoff,  # private: its contract is strptime's
    read_football,
    read_nba,
    read_worldcup_bookings,
    read_worldcup_goals,
    read_worldcup_matches,
)
from infra.feeds.replay import Replay

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}")


def test_football_reader_yields_every_match_with_its_raw_line() -> None:
    rows = list(read_football(DATA))
    matches = [r for r in rows if isinstance(r, FootballMatchRow)]
    assert len(matches) == 37_481  # the count the data README states
    assert [r for r in rows if isinstance(r, MalformedRow)] == []
    first = next(m for m in matches if m.country == "england")
    assert (first.home, first.away, first.home_goals, first.away_goals) == (
        "Chelsea",
        "Hull City",
        2,
        1,
    )
    assert first.opening["home"] == "1.19"
    assert first.closing["home"] == "1.17"
    assert first.opening["bts_yes"] is None  # BTTS odds are empty before 2012-2013
    assert first.source.raw.startswith(b"2009-08-15 13:45:00,england,premier-league")
    assert first.kickoff.utcoffset() is not None


def test_football_leagues_are_all_read() -> None:
    leagues = Counter(r.country for r in read_football(DATA) if isinstance(r, FootballMatchRow))
    assert len(leagues) == 8
    assert leagues["belgium"] > 0
    assert leagues["egypt"] > 0


def test_nba_reader_keeps_quarters_and_american_moneylines() -> None:
    games = [g for g in read_nba(DATA) if isinstance(g, NbaGameRow)]
    assert len(games) == 19_158
    first = games[0]
    assert (first.home, first.away, first.home_points, first.away_points) == ("sa", "por", 106, 97)
    assert first.home_quarters[:4] == (29, 30, 22, 25)
    assert sum(q or 0 for q in first.home_quarters) == first.home_points
    assert first.moneyline_home == "-1400"


def test_worldcup_timelines_join_on_match_id() -> None:
    matches = {
        m.match_id: m for m in read_worldcup_matches(DATA) if isinstance(m, WorldCupMatchRow)
    }
    goals = [g for g in read_worldcup_goals(DATA) if isinstance(g, WorldCupGoalRow)]
    bookings = [b for b in read_worldcup_bookings(DATA) if isinstance(b, WorldCupBookingRow)]
    assert all(g.match_id in matches for g in goals)
    assert all(b.match_id in matches for b in bookings)
    opener = matches["M-1930-01"]
    assert (opener.home, opener.away, opener.home_goals, opener.away_goals) == (
        "France",
        "Mexico",
        4,
        1,
    )
    assert sum(1 for g in goals if g.match_id == "M-1930-01") == 5
    assert any(b.red or b.second_yellow for b in bookings)
    # Where it was played: the venue and its country (a host nation plays at home).
    assert (opener.venue, opener.country) == ("Estadio Pocitos, Montevideo", "Uruguay")
    assert all(m.country for m in matches.values())


def test_the_world_cup_feed_schedules_each_match_with_its_venue_and_country() -> None:
    messages = Replay(DATA, since=date(2018, 6, 14), until=date(2018, 6, 16)).messages("worldcup")
    commands = [m.build(m.key, Provenance(source="test", received_at=m.at)) for m in messages]
    scheduled = [c for c in commands if isinstance(c, ScheduleFixture)]
    assert {(c.home, c.venue, c.venue_country) for c in scheduled} >= {
        ("Russia", "Luzhniki Stadium, Moscow", "Russia"),
    }
    assert all(c.venue_country == "Russia" and c.venue for c in scheduled)


def test_football_kick_off_is_read_as_strptime_would() -> None:
    kickoff = datetime(2016, 3, 5, 12, 45, tzinfo=FOOTBALL_TZ)
    assert _football_kickoff("2016-03-05 12:45:00") == kickoff
    for bad in ("2016-03-05", "2016-03-05T12:45:00", "2016-03-05 12:45:00+01:00", "5/3/2016"):
        with pytest.raises(ValueError):
            _football_kickoff(bad)
