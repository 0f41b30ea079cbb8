"""The demo season's calendar and where a start resumes it (no I/O)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.demo_season import first_unplayed, keep_season, load_season, next_season


def test_a_new_season_shares_no_kickoff_date_with_the_one_before() -> None:
    now = datetime(2026, 12, 5, 10, 25, tzinfo=UTC)
    first = next_season(None, now)
    assert first.start == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    later = next_season(first, now + timedelta(hours=2))
    dates = {f.kickoff.date() for f in first.simulator().fixtures()}
    assert not dates & {f.kickoff.date() for f in later.simulator().fixtures()}
    assert later.label != first.label
    far = next_season(first, now + timedelta(weeks=60))  # long after: it starts an hour on
    assert far.start == datetime(2028, 1, 29, 11, 0, tzinfo=UTC)


def test_a_season_is_kept_and_read_back(tmp_path: Path) -> None:
    season = next_season(None, datetime(2026, 12, 5, 10, 25, tzinfo=UTC))
    keep_season(tmp_path / "demo" / "season.json", season)
    assert load_season(tmp_path / "demo" / "season.json") == season
    assert load_season(tmp_path / "none.json") is None


class Stored:
    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.asked = 0

    async def honoured(self, key: str) -> bool:
        self.asked += 1
        return key in self.keys


def test_the_first_unplayed_message_is_found_in_a_few_lookups() -> None:
    messages = next_season(None, datetime(2026, 12, 5, tzinfo=UTC)).messages()
    for stored in (0, 1, 4321, len(messages)):
        store = Stored({m.key for m in messages[:stored]})
        assert asyncio.run(first_unplayed(store, messages)) == stored  # type: ignore[arg-type]
        assert store.asked <= 14
