"""`sportcast up --replay football|nba|worldcup`: a dataset's latest season as the live feed.

The source's last season (football, NBA) or tournament (World Cup) in SPORTCAST_DATA_DIR is
played in event time through `sportcast feed replay`'s code path (infra/feeds/replay.py, the
feed player); the seasons before it train the champion of the source's kind (ADR 0008's
lifecycle, on their own stream: infra/demo.py) unless a champion trained on real data already
serves it. Dataset messages have stable keys, so the next start continues where this one
stopped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

from domain.model_registry import FOOTBALL_1X2, FOOTBALL_INPLAY, NBA
from infra.demo import ChampionSource, trained_on_the_demo_league
from infra.demo_season import SeasonIntake, first_unplayed, play_on
from infra.feeds.datasets import (
    FootballMatchRow,
    NbaGameRow,
    WorldCupMatchRow,
    read_football,
    read_nba,
    read_worldcup_matches,
)
from infra.feeds.messages import FeedMessage
from infra.feeds.replay import Replay

log = logging.getLogger("sportcast.demo")


class ReplaySource(StrEnum):
    FOOTBALL = "football"
    NBA = "nba"
    WORLDCUP = "worldcup"


class DatasetMissing(Exception):
    code = "dataset-missing"


@dataclass(frozen=True)
class Window:
    live: timedelta
    """How far back from the dataset's last kick-off the live part begins."""
    history: timedelta
    """How much before that trains the champion."""
    kind: str
    files: str
    """What must be in the source's directory."""


WINDOWS = {
    # the last season live; three before it train (fit, calibrate, hold out)
    ReplaySource.FOOTBALL: Window(
        timedelta(days=330), timedelta(days=3 * 365), FOOTBALL_1X2, "*.csv"
    ),
    ReplaySource.NBA: Window(timedelta(days=270), timedelta(days=3 * 365), NBA, "games.csv"),
    # the last tournament live; every earlier one trains the in-play model
    ReplaySource.WORLDCUP: Window(
        timedelta(days=45), timedelta(days=100 * 365), FOOTBALL_INPLAY, "goals.csv"
    ),
}


def check_dataset(data_dir: Path, source: ReplaySource) -> None:
    folder = data_dir / source.value
    if not any(folder.glob(WINDOWS[source].files)):
        raise DatasetMissing(
            f"no {source.value} dataset in {folder} (set SPORTCAST_DATA_DIR to the folder that"
            f" holds football/, nba/ and worldcup/)"
        )


@functools.cache
def last_kickoff(data_dir: Path, source: ReplaySource) -> date:
    """The dataset's last kick-off date, from its rows (building every message is much
    slower)."""
    if source is ReplaySource.FOOTBALL:
        return max(
            r.kickoff.date() for r in read_football(data_dir) if isinstance(r, FootballMatchRow)
        )
    if source is ReplaySource.NBA:
        return max(r.game_date for r in read_nba(data_dir) if isinstance(r, NbaGameRow))
    return max(
        r.match_date for r in read_worldcup_matches(data_dir) if isinstance(r, WorldCupMatchRow)
    )


@dataclass(frozen=True)
class DatasetReplay:
    data_dir: Path
    source: ReplaySource

    def last_day(self) -> date:
        return last_kickoff(self.data_dir, self.source)

    def live(self) -> list[FeedMessage]:
        """The last season's messages, in event time (blocking: reads the dataset)."""
        since = self.last_day() - WINDOWS[self.source].live
        return Replay(self.data_dir, since=since).messages(self.source)

    def history(self) -> list[FeedMessage]:
        window = WINDOWS[self.source]
        until = self.last_day() - window.live - timedelta(days=1)
        replay = Replay(self.data_dir, since=until - window.history, until=until)
        return replay.messages(self.source)

    def champions(self) -> ChampionSource:
        return ChampionSource(
            kinds=(WINDOWS[self.source].kind,),
            history=self.history,
            player_source=f"replay-{self.source.value}",
            serves=lambda model: not trained_on_the_demo_league(model),
        )

    async def play(self, intake: SeasonIntake, speed: float) -> None:
        """The live part from where the last start stopped."""
        messages = await asyncio.to_thread(self.live)
        resume = await first_unplayed(intake, messages)
        log.info("demo replay of %s from message %d of %d", self.source, resume, len(messages))
        first_live = next((i for i, m in enumerate(messages) if m.kind != "fixture"), len(messages))
        source = f"replay-{self.source.value}"
        await play_on(intake, messages, resume, first_live, speed=speed, source=source)
