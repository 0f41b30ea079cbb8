"""The demo season on a real nats-server: a second `sportcast up` continues the season where the
first stopped (nothing refused, nothing sent twice beyond the player's window)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from commands.ingestion import Accepted, FeedCommand
from commands.intake import RefusedPayload
from domain.errors import DomainError
from infra.bootstrap import open_intake
from infra.connections import connect_nats
from infra.demo_season import load_season, play_demo_season
from infra.feeds.intake import JetStreamFeedIntake
from infra.settings import Settings

WINDOW = 64  # the demo player's (16 lanes)


class Watching:
    """The real intake, counting what it stored and what it refused."""

    def __init__(self, intake: JetStreamFeedIntake) -> None:
        self.intake = intake
        self.accepted = 0
        self.duplicates = 0
        self.refused: list[str] = []

    async def keep_raw(self, raw: bytes) -> str:
        return await self.intake.keep_raw(raw)

    async def submit(self, command: FeedCommand) -> Accepted:
        return await self.intake.submit(command)

    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        outcomes = await self.intake.submit_many(commands)
        for outcome in outcomes:
            if isinstance(outcome, Accepted):
                self.duplicates += outcome.duplicate
                self.accepted += not outcome.duplicate
        return outcomes

    async def quarantine(self, refused: RefusedPayload) -> int:
        self.refused.append(refused.reason_code)
        return await self.intake.quarantine(refused)

    async def honoured(self, key: str) -> bool:
        return await self.intake.honoured(key)


async def play_until(intake: Watching, path: Path, accepted: int) -> None:
    """A start that is stopped once ``accepted`` messages are stored."""
    playing = asyncio.create_task(play_demo_season(intake, 1e6, path))
    async with asyncio.timeout(45):
        while intake.accepted < accepted:
            assert not playing.done(), playing.exception()
            await asyncio.sleep(0.05)
    playing.cancel()
    await asyncio.gather(playing, return_exceptions=True)


async def test_a_second_start_continues_the_season_where_the_first_stopped(
    nats_url: str, unique_name: str, tmp_path: Path
) -> None:
    settings = Settings(stream_name=unique_name)
    path = tmp_path / "season.json"
    nc = await connect_nats(nats_url)
    try:
        async with open_intake(settings, nats_url, nc, workers=8) as intake:
            first = Watching(intake)
            await play_until(first, path, 500)  # the 380 fixtures announced, some quotes
            season = load_season(path)
            second = Watching(intake)
            await play_until(second, path, 200)
    finally:
        await nc.close()
    assert load_season(path) == season  # the same season, continued
    assert first.refused == second.refused == []
    # Not started over (that is 500 and more): what the search steps back over to be sure
    # (a window) and what was in flight at the stop (another, at most).
    assert second.duplicates <= 2 * WINDOW
