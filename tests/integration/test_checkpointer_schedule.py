"""The checkpointer seals on its own schedule, not only when told: a running one (as `sportcast
up` and `sportcast serve checkpointer` start it) writes a checkpoint over each stream's new
events every interval, and nothing when nothing new came. Real nats-server (tests/conftest.py);
the seal at shutdown is tested with the service's process in test_nats_permissions.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from infra.bootstrap import build_checkpointer
from infra.connections import connect_nats
from tests.checkpointing import append_events, checkpointed_settings

DEADLINE = 30.0  # seconds, for a loaded box; an idle one takes a few intervals


def test_a_running_checkpointer_seals_new_events_every_interval(
    nats_url: str, unique_name: str, tmp_path: Path
) -> None:
    settings = checkpointed_settings(
        nats_url, unique_name, tmp_path / "keys.json", checkpoint_interval_seconds=0.2
    )
    first = append_events(settings, nats_url, 3)

    async def main() -> tuple[int, int, int, int]:
        nc = await connect_nats(nats_url, reconnect=False)
        checkpointer = build_checkpointer(settings, nc)
        seals = checkpointer.seals[unique_name]
        loop = asyncio.get_running_loop()

        async def until(done: Callable[[], bool]) -> None:
            deadline = loop.time() + DEADLINE
            while not done():
                assert loop.time() < deadline, "no checkpoint on the schedule"
                await asyncio.sleep(0.05)

        try:
            await checkpointer.start()  # never asked to seal from here on
            await until(lambda: seals.writes >= 1)
            at_first = seals.position
            # Nothing new: a few more intervals go by without another checkpoint.
            rounds = seals.sealed_at or 0.0
            await until(lambda: (seals.sealed_at or 0.0) > rounds)
            quiet = seals.writes
            second = await asyncio.to_thread(append_events, settings, nats_url, 2)
            await until(lambda: seals.writes > quiet)
            return at_first or 0, quiet, seals.position or 0, second
        finally:
            await checkpointer.stop()
            await nc.close()

    at_first, quiet, at_second, second = asyncio.run(main())
    assert at_first == first
    assert quiet == 1
    assert at_second == second
    assert second > first
