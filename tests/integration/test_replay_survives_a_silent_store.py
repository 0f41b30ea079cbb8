"""A replay outlives a store that stops answering for a while: the runs it did not answer are
submitted again, and every message ends up stored exactly once (real nats-server, frozen with
SIGSTOP as a slow or electing server would be)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.ingestion import FeedIngestion
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats
from infra.feeds.player import FeedPlayer, PlayReport
from infra.feeds.simulated import simulated_messages
from infra.feeds.simulator import SeasonSimulator
from infra.settings import Settings
from tests.freezing import freeze as freeze_process
from tests.own_nats import own_nats

pytestmark = pytest.mark.slow


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with own_nats(tmp_path / "nats", sync_always=True) as server:
        yield server


def replay(settings: Settings, url: str, *, freeze: EmbeddedNats | None = None) -> PlayReport:
    messages = list(simulated_messages(SeasonSimulator(seed=3, teams=6)))

    async def main() -> PlayReport:
        nc = await connect_nats(url)
        try:
            async with open_intake(settings, url, nc, workers=4) as intake:
                player = FeedPlayer(intake, source="sim", lanes=1, run=20, retry_delay=0.5)
                if freeze is None:
                    return await player.play(messages)
                assert freeze.pid is not None
                # Freeze the server as the play starts, for longer than a save (1 s) or a payload
                # publish (nats-py's 5 s) waits, but shorter than the retries' patience.
                freeze_process(freeze.pid)
                thaw = asyncio.get_running_loop().call_later(
                    6.0, os.kill, freeze.pid, signal.SIGCONT
                )
                try:
                    return await player.play(messages)
                finally:
                    thaw.cancel()
                    os.kill(freeze.pid, signal.SIGCONT)
        finally:
            await nc.close()

    return asyncio.run(main())


def stored_count(settings: Settings, url: str) -> int:
    app = FeedIngestion(event_store_env(settings, url))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def test_a_replay_through_a_frozen_server_stores_every_message_once(
    own_server: EmbeddedNats, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SAVE_TIMEOUT", "1.0")  # a save gives up after 1 s of silence
    frozen = Settings(stream_name=unique_name)
    report = replay(frozen, own_server.url, freeze=own_server)
    assert report.retries >= 1, "the freeze should have cost at least one unanswered run"
    assert report.accepted + report.duplicates == report.messages
    assert not report.refused

    # The calm run with a save's usual patience: 1 s is short for an fsync on a loaded box, and
    # a retry there would not come from a freeze.
    monkeypatch.delenv("NATS_SAVE_TIMEOUT")
    calm = Settings(stream_name=f"{unique_name}_CALM")
    reference = replay(calm, own_server.url)
    assert reference.retries == 0
    # Same messages, same stored events: nothing lost, nothing stored twice.
    assert stored_count(frozen, own_server.url) == stored_count(calm, own_server.url)
    again = replay(frozen, own_server.url)
    assert again.duplicates == again.messages
