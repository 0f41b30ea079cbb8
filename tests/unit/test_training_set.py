"""Training rows do not depend on the time zones event times happen to be written in."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone

from forecasting.football.inputs import (
    FixtureAnnounced,
    ForecastInput,
    OddsClosed,
    OddsOpened,
    ResultKnown,
)
from forecasting.football.training_set import build_rows

TEAMS = ("Ajax", "PSV", "Feyenoord", "AZ", "Twente", "Utrecht", "Vitesse", "Heerenveen")


def history(seed: int = 11) -> list[ForecastInput]:
    """Rounds of four matches, two leagues, odds opening hours apart: times interleave closely."""
    rng = random.Random(seed)
    events: list[ForecastInput] = []
    kickoff = datetime(2021, 8, 7, 12, 0, tzinfo=UTC)
    for round_ in range(30):
        for league in ("nl", "nl2"):
            teams = list(TEAMS)
            rng.shuffle(teams)
            for home, away in zip(teams[::2], teams[1::2], strict=True):
                ko = kickoff + timedelta(hours=rng.choice((0, 2, 5)))
                fixture_id = f"{league}/{round_}/{home}/{away}"
                events.append(FixtureAnnounced(fixture_id, league, "2021", home, away, ko))
                opened_at = ko - timedelta(days=3, hours=rng.randint(0, 10))
                home_p = rng.uniform(0.25, 0.6)
                draw_p = rng.uniform(0.2, 0.3)
                chances = (home_p, draw_p, 1.0 - home_p - draw_p)
                price_h, price_d, price_a = (1.0 / (c * 1.06) for c in chances)  # 6% margin
                events.append(OddsOpened(fixture_id, price_h, price_d, price_a, at=opened_at))
                events.append(OddsClosed(fixture_id, price_h * 0.97, price_d, price_a, at=ko))
                goals = (rng.randint(0, 3), rng.randint(0, 3))
                events.append(ResultKnown(fixture_id, *goals, at=ko + timedelta(minutes=110)))
        kickoff += timedelta(days=4)
    return events


def in_zones(events: list[ForecastInput], seed: int) -> list[ForecastInput]:
    """The same instants, each written with an offset of its own (-12 h .. +14 h)."""
    rng = random.Random(seed)

    def shift(moment: datetime) -> datetime:
        return moment.astimezone(timezone(timedelta(minutes=15 * rng.randint(-48, 56))))

    out: list[ForecastInput] = []
    for event in events:
        if isinstance(event, FixtureAnnounced):
            out.append(dataclasses.replace(event, kickoff=shift(event.kickoff)))
        else:
            out.append(dataclasses.replace(event, at=shift(event.at)))
    return out


def test_rows_are_the_same_whatever_offsets_times_are_written_with() -> None:
    events = history()
    reference = build_rows(events)

    for seed in (1, 2, 3):
        rows = build_rows(in_zones(events, seed))
        assert [r.features for r in rows] == [r.features for r in reference]
        assert [(r.fixture.fixture_id, r.outcome, r.closing) for r in rows] == [
            (r.fixture.fixture_id, r.outcome, r.closing) for r in reference
        ]
    assert len(reference) == 30 * 2 * 4
