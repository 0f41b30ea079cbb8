"""A 3-node JetStream cluster keeps every acknowledged event through a node's crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import PersistenceError, StoredEvent

from infra.embedded.nats import EmbeddedCluster, EmbeddedNats
from infra.eventstore import JetStreamFactory
from infra.eventstore.recorders import JetStreamApplicationRecorder
from infra.eventstore.verify import verify_stream

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[EmbeddedNats]]:
    # durability=replicated: default flush, safety from the other replicas
    with EmbeddedCluster(tmp_path, name="sportcast-test") as nodes:
        yield nodes.nodes


def open_replicated(url: str, stream: str) -> tuple[JetStreamFactory, JetStreamApplicationRecorder]:
    factory = JetStreamFactory({"NATS_URL": url, "NATS_STREAM": stream, "NATS_REPLICAS": "3"})
    deadline = time.monotonic() + 40
    while True:  # the cluster needs a moment to elect a meta leader
        try:
            rec = factory.application_recorder()
            assert isinstance(rec, JetStreamApplicationRecorder)
            return factory, rec
        except PersistenceError:
            if time.monotonic() > deadline:
                factory.close()
                raise
            time.sleep(0.5)


def saved_more(acked: dict[int, tuple[object, int]], count: int, within: float = 60) -> None:
    """Wait until the writers have had ``count`` more events acknowledged."""
    target = len(acked) + count
    deadline = time.monotonic() + within
    while len(acked) < target:
        assert time.monotonic() < deadline, f"{count} more acknowledged writes: not in {within} s"
        time.sleep(0.05)


def test_acknowledged_events_survive_a_node_crash_in_order(
    cluster: list[EmbeddedNats], unique_name: str
) -> None:
    url = ",".join(node.url for node in cluster)
    factory, rec = open_replicated(url, unique_name)
    try:
        acked: dict[int, tuple[object, int]] = {}
        failures: list[BaseException] = []
        stop = threading.Event()

        def append() -> None:
            while not stop.is_set():
                agg = uuid4()
                batch = [StoredEvent(agg, v, "t:E", b"{}") for v in range(1, 4)]
                try:
                    ids = rec.insert_events(batch[:1]) or []
                    ids = [*ids, *(rec.insert_events(batch[1:]) or [])]
                except PersistenceError as exc:  # failover: allowed, but never a lost ack
                    failures.append(exc)
                    continue
                for n_id, e in zip(ids, batch, strict=True):
                    acked[n_id] = (e.originator_id, e.originator_version)

        writers = [threading.Thread(target=append) for _ in range(2)]
        for w in writers:
            w.start()
        # Acknowledged writes before the crash and after the restart, counted, not timed.
        saved_more(acked, 50)
        victim = cluster[1]
        victim.kill()
        time.sleep(2.0)  # down for a while: the writers go on (or fail over) meanwhile
        victim.start()
        saved_more(acked, 50)
        stop.set()
        for w in writers:
            w.join(30)

        assert len(acked) > 100
        # A read may be served by the restarted replica: it answers in full once caught up.
        deadline = time.monotonic() + 30
        while True:
            notifications = rec.select_notifications(None, len(acked) + 1000)
            stored = {n.id: (n.originator_id, n.originator_version) for n in notifications}
            missing = {i for i in acked if stored.get(i) != acked[i]}
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert not missing, f"{len(missing)} acknowledged events lost or changed"
        ids = [n.id for n in notifications]
        assert ids == sorted(ids)
        report = verify_stream(url, unique_name)
        assert report.ok, report.problems[:5]
    finally:
        factory.close()
