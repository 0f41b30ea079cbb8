"""Play a dataset window into the real event store, as `sportcast feed replay` does."""

from __future__ import annotations

import asyncio

from infra.bootstrap import open_intake
from infra.connections import connect_nats
from infra.feeds.player import FeedPlayer, PlayReport
from infra.feeds.replay import Replay
from infra.settings import Settings


def play(
    settings: Settings, url: str, source: str, replayer: Replay, *, lanes: int = 8
) -> PlayReport:
    """``lanes=1`` stores the window in exact event order (else only each fixture's own)."""

    async def main() -> PlayReport:
        nc = await connect_nats(url)
        try:
            async with open_intake(settings, url, nc, workers=8) as intake:
                player = FeedPlayer(intake, source=f"replay-{source}", lanes=lanes)
                return await player.play(replayer.messages(source))
        finally:
            await nc.close()

    return asyncio.run(main())
