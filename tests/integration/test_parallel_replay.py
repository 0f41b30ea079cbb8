"""A replay shared out between worker processes stores exactly what one process stores, keeps
each league in event order, and adds nothing when played again."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from eventsourcing.persistence import Notification

from commands.ingestion import FeedIngestion
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats
from infra.feeds.parallel import ReplayShare, WorkerFailed, play_in_parallel, share_out
from infra.feeds.player import FeedPlayer, PlayReport
from infra.feeds.replay import Replay
from infra.settings import Settings

pytestmark = pytest.mark.slow

SINCE, UNTIL = date(2016, 3, 1), date(2016, 3, 31)  # March 2016 has impossible books
RECEIPT = "commands.receipt:CommandReceipt.Issued"


@pytest.fixture
def data_dir() -> Path:
    settings = Settings()
    if not (settings.data_dir / "football").exists():
        pytest.skip(f"no datasets at {settings.data_dir} (set SPORTCAST_DATA_DIR)")
    return settings.data_dir


def play_in_one_process(settings: Settings, url: str, replayer: Replay) -> PlayReport:
    async def play() -> PlayReport:
        nc = await connect_nats(url)
        try:
            async with open_intake(settings, url, nc, workers=1) as intake:
                player = FeedPlayer(intake, source="replay-football", lanes=1, run=300)
                return await player.play(replayer.messages("football"))
        finally:
            await nc.close()

    return asyncio.run(play())


def stored(settings: Settings, url: str) -> list[Notification]:
    app = FeedIngestion(event_store_env(settings, url))
    try:
        head = app.recorder.max_notification_id() or 0
        return list(app.recorder.select_notifications(start=1, limit=head))
    finally:
        app.close()


def test_workers_store_what_one_process_stores_each_league_in_event_order(
    data_dir: Path, nats_url: str, unique_name: str
) -> None:
    alone = Settings(data_dir=data_dir, stream_name=f"{unique_name}_ALONE")
    shared = Settings(data_dir=data_dir, stream_name=f"{unique_name}_SHARED")
    replayer = Replay(data_dir, since=SINCE, until=UNTIL)
    messages = replayer.messages("football")
    shares = share_out(replayer.groups("football"), 2)
    template = ReplayShare(
        settings=shared,
        nats_url=nats_url,
        data_dir=data_dir,
        source="football",
        since=SINCE,
        until=UNTIL,
        player_source="replay-football",
    )

    single = play_in_one_process(alone, nats_url, replayer)
    parallel, per_worker = play_in_parallel(template, shares)

    assert len(per_worker) == 2
    assert parallel.messages == len(messages)
    assert parallel.events_stored == single.events_stored > 0
    assert parallel.refused == single.refused
    assert set(parallel.refused) == {"impossible-book"}
    assert parallel.refused_origins == single.refused_origins
    # the same events on every aggregate (ids are deterministic), in the same order
    by_aggregate: list[dict[str, list[str]]] = []
    for settings in (alone, shared):
        streams: dict[str, list[str]] = defaultdict(list)
        for n in stored(settings, nats_url):
            streams[str(n.originator_id)].append(n.topic)
        by_aggregate.append(streams)
    assert by_aggregate[0] == by_aggregate[1]
    # within a league, the store keeps the feed's order exactly (one lane per worker)
    group_of = {m.key: m.group for m in messages}
    keys = [
        json.loads(n.state)["idempotency_key"]
        for n in stored(shared, nats_url)
        if n.topic == RECEIPT
    ]
    for share in shares:
        for group in share:
            in_store = [k for k in keys if group_of[k] == group]
            accepted = set(in_store)
            assert in_store == [m.key for m in messages if m.group == group and m.key in accepted]

    again, _ = play_in_parallel(template, shares)
    assert again.events_stored == 0
    assert again.duplicates == parallel.accepted
    assert len(stored(shared, nats_url)) == parallel.events_stored + parallel.accepted


def test_a_worker_that_fails_stops_the_replay_with_its_reason(tmp_path: Path) -> None:
    template = ReplayShare(
        settings=Settings(data_dir=tmp_path),
        nats_url="nats://127.0.0.1:1",
        data_dir=tmp_path,
        source="no-such-source",
    )
    with pytest.raises(WorkerFailed, match="unknown source 'no-such-source'"):
        play_in_parallel(template, [("a",), ("b",)])
