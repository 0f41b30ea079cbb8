"""The registry's NBA and in-play football training runs on real data: what `sportcast model
train --kind nba|football-inplay` records (holdout metrics, out of sample) and how long it takes.

Replays the whole NBA dataset and the World Cups (one lane: exact order) into a fresh embedded
nats-server, unless EVAL_NATS_URL names a server whose stream EVAL_STREAM already holds them,
then trains each kind as the registry does (infra/forecasting/kinds.py) and prints its record.

    SPORTCAST_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.eval_registry_kinds
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from commands.ingestion import FeedIngestion
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.feeds.replay import Replay
from infra.forecasting.inplay_history import InPlayKind
from infra.forecasting.kinds import Candidate, ModelKind
from infra.forecasting.nba_history import NbaKind
from infra.intake import event_store_env
from infra.settings import Settings


def main() -> None:
    url, stream = os.environ.get("EVAL_NATS_URL"), os.environ.get("EVAL_STREAM", "KINDS_EVAL")
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            server = EmbeddedNats(
                NatsConfig(store_dir=Path(tmp), port=free_port(), monitor_port=free_port())
            )
            server.start()
            url = server.url
        try:
            settings = Settings(stream_name=stream)
            if server is not None:
                _replay(settings, url)
            feeds = FeedIngestion(event_store_env(settings, url))
            try:
                kinds: list[ModelKind] = [NbaKind(), InPlayKind()]
                for kind in kinds:
                    started = time.perf_counter()
                    candidate = kind.train(feeds)
                    _show(kind.name, candidate, time.perf_counter() - started)
            finally:
                feeds.close()
        finally:
            if server is not None:
                server.stop()


def _replay(settings: Settings, url: str) -> None:
    from tests.replaying import play  # the same helper the tests use (one lane: exact order)

    for source in ("nba", "worldcup"):
        started = time.perf_counter()
        report = play(settings, url, source, Replay(settings.data_dir), lanes=1)
        print(
            f"replayed {source}: {report.messages} messages ({report.events_stored} events, "
            f"refused {sum(report.refused.values())}) in {time.perf_counter() - started:.1f} s"
        )


def _show(kind: str, candidate: Candidate, seconds: float) -> None:
    r = candidate.record
    print(f"\n{kind}: {r.model_id}, {len(candidate.artifact)} bytes, {seconds:.1f} s wall")
    print(
        f"  cut-off {r.cutoff_position}, data {r.first_kickoff:%Y-%m-%d}..{r.last_kickoff:%Y-%m-%d}"
    )
    print(f"  holdout {r.holdout_season}")
    for name, value in sorted(r.holdout_metrics.items()):
        print(f"    {name:<18} {value:.5f}")


if __name__ == "__main__":
    main()
