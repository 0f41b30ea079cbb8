"""The event store an evaluation reads: a server the caller names (EVAL_NATS_URL, its stream
EVAL_STREAM already holding the data), or a fresh embedded nats-server the data is replayed into
first (one lane: exact order, as the tests replay)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from commands.ingestion import FeedIngestion
from infra.bootstrap import event_store_env
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.replay import Replay
from infra.settings import Settings


@contextmanager
def evaluated_feed(default_stream: str, sources: Sequence[str]) -> Iterator[FeedIngestion]:
    """The feed application on that store, ``sources`` replayed into it when it is fresh."""
    url, stream = os.environ.get("EVAL_NATS_URL"), os.environ.get("EVAL_STREAM", default_stream)
    settings = Settings(stream_name=stream)
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if url is None:
            server = EmbeddedNats(
                NatsConfig(store_dir=Path(tmp), port=free_port(), monitor_port=free_port())
            )
            server.start()
            url = server.url
        try:
            if server is not None:
                for source in sources:
                    _replay(settings, url, source)
            feeds = FeedIngestion(event_store_env(settings, url))
            try:
                yield feeds
            finally:
                feeds.close()
        finally:
            if server is not None:
                server.stop()


def _replay(settings: Settings, url: str, source: str) -> None:
    from tests.replaying import play  # the same helper the tests use (one lane: exact order)

    started = time.perf_counter()
    report = play(settings, url, source, Replay(settings.data_dir), lanes=1)
    print(
        f"replayed {source}: {report.messages} messages ({report.events_stored} events, refused "
        f"{sum(report.refused.values())}) in {time.perf_counter() - started:.1f} s"
    )
