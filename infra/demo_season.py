"""The demo league's live season: kept in the data directory, so the next `sportcast up` continues
it where the last one stopped, and a new one begins only when it is over.

A fixture's id is its sport, competition, kick-off date and teams (domain/fixture_id.py): two
seasons of the one demo league must never share a date, or the second's fixtures are refused as
already scheduled (and its quotes as after the result). So a new season begins an hour from
now or the day after the previous season's last kick-off, whichever is later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from infra.feeds.messages import FeedMessage
from infra.feeds.player import BulkIntake, FeedPlayer
from infra.feeds.simulated import simulated_messages
from infra.feeds.simulator import SeasonSimulator

log = logging.getLogger("sportcast.demo")

LEAGUE_SEED = 7  # the demo league's teams (their strengths) are the same on every start
LANES = 16
# A round's ten fixtures over its week, each quoted a dozen times: at 3600x forecasts every few
# seconds, and in-play forecasts on every goal and card of the match being played.
ROUND_SPREAD = timedelta(hours=16)
DEMO_QUOTES = tuple(
    (hours, 0.05 + 0.20 * hours / 144) for hours in (144, 120, 96, 72, 48, 36, 24, 12, 6, 3, 1, 0.1)
)


class SeasonIntake(BulkIntake, Protocol):
    async def honoured(self, key: str) -> bool:
        """Whether a message with this key was stored already."""
        ...


@dataclass(frozen=True)
class DemoSeason:
    label: str
    start: datetime
    """The first kick-off."""
    match_seed: int

    def simulator(self) -> SeasonSimulator:
        return SeasonSimulator(
            seed=LEAGUE_SEED,
            season=self.label,
            start=self.start,
            match_seed=self.match_seed,
            spread=ROUND_SPREAD,
            quotes=DEMO_QUOTES,
        )

    def messages(self) -> list[FeedMessage]:
        return list(simulated_messages(self.simulator()))

    def last_kickoff(self) -> datetime:
        return max(f.kickoff for f in self.simulator().fixtures())


def next_season(previous: DemoSeason | None, now: datetime) -> DemoSeason:
    """A season whose label is the start time and whose dates follow ``previous``'s."""
    start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    if previous is not None:
        after = (previous.last_kickoff() + timedelta(days=1)).replace(
            hour=12, minute=0, second=0, microsecond=0
        )
        start = max(start, after)
    return DemoSeason(
        label=f"demo-{now:%Y%m%dT%H%M%S}", start=start, match_seed=int(now.timestamp())
    )


def load_season(path: Path) -> DemoSeason | None:
    if not path.exists():
        return None
    kept = json.loads(path.read_text())
    return DemoSeason(
        label=kept["label"],
        start=datetime.fromisoformat(kept["start"]),
        match_seed=int(kept["match_seed"]),
    )


def keep_season(path: Path, season: DemoSeason) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {
        "label": season.label,
        "start": season.start.isoformat(),
        "match_seed": season.match_seed,
    }
    path.write_text(json.dumps(kept))


async def first_unplayed(intake: SeasonIntake, messages: Sequence[FeedMessage]) -> int:
    """Where an earlier play of ``messages`` stopped: a binary search over their keys (the
    player stores them in order, give or take its window)."""
    low, high = 0, len(messages)
    while low < high:
        middle = (low + high) // 2
        if await intake.honoured(messages[middle].key):
            low = middle + 1
        else:
            high = middle
    return low


async def play_demo_seasons(intake: SeasonIntake, speed: float, path: Path) -> None:
    """The demo season, continued from where the last start stopped, then new ones, each
    played into the intake in event time."""
    while True:
        await play_demo_season(intake, speed, path)


async def play_demo_season(intake: SeasonIntake, speed: float, path: Path) -> None:
    """The season kept at ``path`` from where the last start stopped (a new one when it is
    over)."""
    season = await asyncio.to_thread(load_season, path)
    if season is None:
        season = next_season(None, datetime.now(UTC))
        await asyncio.to_thread(keep_season, path, season)
    messages = season.messages()
    resume = await first_unplayed(intake, messages)
    if resume == len(messages):
        season = next_season(season, datetime.now(UTC))
        await asyncio.to_thread(keep_season, path, season)
        messages, resume = season.messages(), 0
    log.info("demo season %s from message %d of %d", season.label, resume, len(messages))
    first_quote = next(i for i, m in enumerate(messages) if m.kind == "odds")
    await play_on(intake, messages, resume, first_quote, speed=speed, source="simulator")


async def play_on(
    intake: SeasonIntake,
    messages: Sequence[FeedMessage],
    resume: int,
    first_live: int,
    *,
    speed: float,
    source: str,
) -> None:
    """``messages`` from ``resume`` (see first_unplayed): those before ``first_live`` (fixtures
    announced days ahead) and the player's window before ``resume`` (what a stopped start may
    have left half-stored: stored ones come back as duplicates) at once, the rest in event time.
    """
    player = FeedPlayer(intake, source=source, lanes=LANES)
    paced_from = max(first_live, resume)
    at_once = await player.play(messages[max(0, resume - player.window) : paced_from])
    paced = FeedPlayer(intake, source=source, speed=speed, lanes=LANES)
    report = await paced.play(messages[paced_from:])
    log.info(
        "%s feed played to its end: %s accepted, %s duplicates",
        source,
        at_once.accepted + report.accepted,
        at_once.duplicates + report.duplicates,
    )
