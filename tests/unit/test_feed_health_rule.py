"""The stale-odds rule and the feed-health table, as pure domain behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.feed_health import FeedBoard, InvalidHealthCheck, OddsWatch

KICKOFF = datetime(2018, 7, 15, 15, tzinfo=UTC)
WINDOW = timedelta(hours=3)
STALE_AFTER = timedelta(minutes=15)
FIXTURE = UUID("3b7f3c39-7e4e-4a0e-9a55-2b0a8f0c6a11")


def watch(*quotes: tuple[str, datetime]) -> OddsWatch:
    w = OddsWatch.open(fixture_id=FIXTURE, competition="world-cup", kickoff=KICKOFF)
    for source, at in quotes:
        w.see_quote(source, at)
    return w


def stale_events(w: OddsWatch) -> list[OddsWatch.OddsWentStale]:
    return [e for e in w.collect_events() if isinstance(e, OddsWatch.OddsWentStale)]


def check(w: OddsWatch, now: datetime) -> bool:
    return w.check(now, WINDOW, STALE_AFTER)


def test_stale_when_close_to_kickoff_and_the_last_quote_is_too_old() -> None:
    w = watch(("pinnacle", KICKOFF - timedelta(hours=2)))
    assert check(w, KICKOFF - timedelta(hours=1))


def test_a_fixture_never_quoted_is_stale_once_within_the_window() -> None:
    assert check(watch(), KICKOFF - timedelta(minutes=1))


def test_the_window_starts_at_kickoff_minus_window_and_ends_before_kickoff() -> None:
    w = watch()
    assert not check(w, KICKOFF - WINDOW - timedelta(seconds=1))
    assert check(w, KICKOFF - WINDOW)
    assert check(w, KICKOFF - timedelta(seconds=1))
    assert not check(w, KICKOFF)


def test_a_quote_exactly_stale_after_ago_is_still_fresh() -> None:
    now = KICKOFF - timedelta(hours=1)
    assert not check(watch(("pinnacle", now - STALE_AFTER)), now)
    assert check(watch(("pinnacle", now - STALE_AFTER - timedelta(seconds=1))), now)


def test_any_source_keeps_the_fixture_fresh() -> None:
    now = KICKOFF - timedelta(hours=1)
    w = watch(("pinnacle", now - timedelta(hours=2)), ("bet365", now - timedelta(minutes=5)))
    assert not check(w, now)
    assert w.last_quote_at == now - timedelta(minutes=5)


@pytest.mark.parametrize("close", ["postponed", "started", "finished"])
def test_a_postponed_or_started_fixture_is_never_stale(close: str) -> None:
    w = watch()
    if close == "postponed":
        w.postpone()
    else:
        w.close(close)
    assert not check(w, KICKOFF - timedelta(minutes=1))


def test_stale_is_reported_once_per_episode() -> None:
    w = watch(("pinnacle", KICKOFF - timedelta(hours=4)))
    now = KICKOFF - timedelta(hours=2)
    assert w.report_if_stale(now, WINDOW, STALE_AFTER)
    assert not w.report_if_stale(now + timedelta(minutes=30), WINDOW, STALE_AFTER)
    [alert] = stale_events(w)
    assert alert.fixture_id == FIXTURE
    assert alert.competition == "world-cup"
    assert alert.kickoff == KICKOFF
    assert alert.last_quote_at == KICKOFF - timedelta(hours=4)
    assert alert.checked_at == now
    assert alert.stale_after_seconds == 900.0


def test_a_newer_quote_rearms_the_report() -> None:
    w = watch(("pinnacle", KICKOFF - timedelta(hours=4)))
    assert w.report_if_stale(KICKOFF - timedelta(hours=2), WINDOW, STALE_AFTER)
    w.see_quote("pinnacle", KICKOFF - timedelta(minutes=100))
    assert not w.report_if_stale(KICKOFF - timedelta(minutes=90), WINDOW, STALE_AFTER)
    assert w.report_if_stale(KICKOFF - timedelta(minutes=30), WINDOW, STALE_AFTER)
    assert len(stale_events(w)) == 2


def test_an_older_quote_neither_counts_nor_rearms() -> None:
    w = watch(("pinnacle", KICKOFF - timedelta(hours=4)))
    assert w.report_if_stale(KICKOFF - timedelta(hours=2), WINDOW, STALE_AFTER)
    assert not w.see_quote("pinnacle", KICKOFF - timedelta(hours=5))
    # a new source whose quote is older than the newest one does not start a new episode
    assert w.see_quote("bet365", KICKOFF - timedelta(hours=6))
    assert not w.report_if_stale(KICKOFF - timedelta(hours=1), WINDOW, STALE_AFTER)
    assert w.last_quote_at == KICKOFF - timedelta(hours=4)


def test_rescheduling_moves_the_window_and_rearms() -> None:
    w = watch()
    assert w.report_if_stale(KICKOFF - timedelta(hours=1), WINDOW, STALE_AFTER)
    w.postpone()
    w.reschedule(KICKOFF + timedelta(days=7))
    assert not check(w, KICKOFF - timedelta(hours=1))
    assert w.report_if_stale(KICKOFF + timedelta(days=7, hours=-1), WINDOW, STALE_AFTER)


def test_a_watch_that_is_over_ignores_quotes_and_reschedules() -> None:
    w = watch()
    w.close("started")
    assert not w.see_quote("pinnacle", KICKOFF + timedelta(minutes=10))
    w.reschedule(KICKOFF + timedelta(days=1))
    assert w.kickoff == KICKOFF
    assert [type(e) for e in w.collect_events()] == [OddsWatch.Opened, OddsWatch.Closed]


def test_a_naive_now_or_a_non_positive_duration_is_refused() -> None:
    w = watch()
    with pytest.raises(InvalidHealthCheck):
        w.check(KICKOFF.replace(tzinfo=None), WINDOW, STALE_AFTER)
    with pytest.raises(InvalidHealthCheck):
        w.check(KICKOFF, timedelta(0), STALE_AFTER)


def test_the_board_lists_open_watches_due_soonest_first() -> None:
    board = FeedBoard()
    soon, later, far = uuid4(), uuid4(), uuid4()
    board.list_watch(later, KICKOFF + timedelta(hours=2))
    board.list_watch(soon, KICKOFF + timedelta(hours=1))
    board.list_watch(far, KICKOFF + timedelta(days=2))
    assert board.watches_due(KICKOFF, WINDOW) == [soon, later]
    board.delist_watch(soon)
    assert board.watches_due(KICKOFF, WINDOW) == [later]


def test_the_board_keeps_the_newest_quote_per_source_and_competition() -> None:
    board = FeedBoard()
    board.see_quote("pinnacle", "world-cup", KICKOFF - timedelta(minutes=10))
    board.see_quote("pinnacle", "world-cup", KICKOFF - timedelta(minutes=30))  # out of order
    board.see_quote("pinnacle", "premier-league", KICKOFF - timedelta(hours=2))
    board.see_quote("bet365", "world-cup", KICKOFF - timedelta(minutes=1))
    rows = [(r.source, r.competition, r.seconds_since) for r in board.pulses(KICKOFF)]
    assert rows == [
        ("pinnacle", "premier-league", 7200.0),
        ("pinnacle", "world-cup", 600.0),
        ("bet365", "world-cup", 60.0),
    ]
