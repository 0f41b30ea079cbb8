"""Bad input and faults: refused before writing, clear errors, no half saves, no duplicates."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from infra.embedded.nats import EmbeddedNats
from infra.eventstore import JetStreamFactory
from infra.eventstore.errors import EventStoreUnavailable, EventTooLarge, LineBreakInHeader
from infra.eventstore.recorders import JetStreamApplicationRecorder
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.wire import WireClient
from infra.eventstore.wire_reads import READ_WAIT, WireReads
from tests.freezing import freeze
from tests.own_nats import own_nats


def event(originator_id: object, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator_id, version, "sportcast:Fixture.Scheduled", state)  # type: ignore[arg-type]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A server this test may freeze, kill and restart (same port, same store)."""
    with own_nats(tmp_path / "nats") as server:
        yield server


def open_recorder(
    url: str, stream: str, **env: str
) -> tuple[JetStreamFactory, JetStreamApplicationRecorder]:
    factory = JetStreamFactory({"NATS_URL": url, "NATS_STREAM": stream, **env})
    rec = factory.application_recorder()
    assert isinstance(rec, JetStreamApplicationRecorder)
    return factory, rec


def test_oversize_event_is_refused_before_anything_is_written(
    nats_url: str, unique_name: str
) -> None:
    factory, rec = open_recorder(nats_url, unique_name)
    try:
        agg = uuid4()
        with pytest.raises(EventTooLarge) as refused:
            rec.insert_events([event(agg, 1), event(agg, 2, b"x" * (2 * 1024 * 1024))])
        assert refused.value.code == "event-too-large"
        assert "bytes" in str(refused.value)
        assert rec.max_notification_id() is None
        assert rec.select_events(agg) == []
    finally:
        factory.close()


@pytest.mark.slow
@pytest.mark.parametrize("events_per_save", [1, 5])
def test_unanswered_publish_is_retried_and_stored_exactly_once(
    own_server: EmbeddedNats, unique_name: str, events_per_save: int
) -> None:
    factory, rec = open_recorder(own_server.url, unique_name)
    try:
        agg = uuid4()
        assert own_server.pid is not None
        freeze(own_server.pid)  # the publish arrives; the ack does not
        result: list[object] = []
        saver = threading.Thread(
            target=lambda: result.append(
                rec.insert_events([event(agg, v) for v in range(1, events_per_save + 1)])
            )
        )
        saver.start()
        # Two attempts' timeouts (2 s each), well inside the save's 10 s: the save is sent
        # again even when the saver thread starts late on a loaded box.
        time.sleep(4.5)
        os.kill(own_server.pid, signal.SIGCONT)
        saver.join(15)
        assert result
        assert result[0] is not None
        stored = rec.select_notifications(None, 100)
        assert [n.originator_version for n in stored] == list(range(1, events_per_save + 1))
        assert [n.id for n in stored] == list(result[0])  # type: ignore[call-overload]
    finally:
        factory.close()


@pytest.mark.slow
def test_server_gone_mid_save_is_a_clear_error_and_never_half_a_save(
    own_server: EmbeddedNats, unique_name: str
) -> None:
    factory, rec = open_recorder(own_server.url, unique_name, NATS_SAVE_TIMEOUT="1.5")
    try:
        kept = uuid4()
        rec.insert_events([event(kept, 1)])
        assert own_server.pid is not None
        freeze(own_server.pid)
        lost = uuid4()
        outcome: list[BaseException] = []

        def save() -> None:
            try:
                rec.insert_events([event(lost, v) for v in range(1, 11)])
            except BaseException as exc:
                outcome.append(exc)

        saver = threading.Thread(target=save)
        saver.start()
        time.sleep(0.3)  # part of the batch is on the wire when the server dies
        own_server.kill()
        saver.join(10)
        assert outcome
        assert isinstance(outcome[0], EventStoreUnavailable)
        assert outcome[0].code == "event-store-unavailable"
        assert "stored entirely or not at all" in str(outcome[0])

        own_server.start()  # same port, same store: the client reconnects by itself
        deadline = time.monotonic() + 30
        while True:
            try:
                rec.insert_events([event(kept, 2)])
                break
            except EventStoreUnavailable:
                if time.monotonic() > deadline:
                    raise
        versions = [e.originator_version for e in rec.select_events(lost)]
        assert versions in ([], list(range(1, 11)))  # all or nothing
        assert [e.originator_version for e in rec.select_events(kept)] == [1, 2]
    finally:
        factory.close()


def test_a_lost_publish_connection_loses_no_save_and_stores_none_twice(
    nats_url: str, unique_name: str
) -> None:
    """The write path's own connection (wire_publish.py) dropping under saves in flight: each
    save is stored once, through nats-py while it reconnects, and the connection comes back."""
    factory, rec = open_recorder(nats_url, unique_name)
    try:
        publisher = factory.link.publisher()
        assert publisher is not None
        first = rec.insert_events([event(uuid4(), 1)])
        assert first is not None
        assert publisher.ready
        saved: list[list[int]] = [list(first)]

        def save_many() -> None:
            for _ in range(50):
                ids = rec.insert_events([event(uuid4(), 1)])
                assert ids is not None
                saved.append(list(ids))

        async def drop() -> None:  # as a connection reset would
            proto = publisher._proto
            assert proto is not None
            assert proto.transport is not None
            proto.transport.abort()

        writers = [threading.Thread(target=save_many) for _ in range(4)]
        for w in writers:
            w.start()
        # A few saves done, nearly 200 to come: the drop lands among saves, on any box.
        deadline = time.monotonic() + 30
        while len(saved) < 1 + 8:
            assert time.monotonic() < deadline, "the writers did not save"
            time.sleep(0.001)
        factory.link.run(drop(), timeout=30)
        for w in writers:
            w.join(30)
        assert len(saved) == 201
        stored = rec.select_notifications(None, 1000)
        assert sorted(i for ids in saved for i in ids) == [n.id for n in stored]  # once each
        deadline = time.monotonic() + 30
        while not publisher.ready:
            assert time.monotonic() < deadline, "the publish connection did not come back"
            time.sleep(0.05)
    finally:
        factory.close()


def test_a_topic_with_a_line_break_is_refused_before_anything_is_written(
    nats_url: str, unique_name: str
) -> None:
    factory, rec = open_recorder(nats_url, unique_name)
    try:
        bad = StoredEvent(uuid4(), 1, "sportcast:Fixture\r\nNats-Rollup: all", b"{}")
        with pytest.raises(LineBreakInHeader) as refused:
            rec.insert_events([event(uuid4(), 1), bad])
        assert refused.value.code == "line-break-in-header"
        assert rec.max_notification_id() is None
    finally:
        factory.close()


def test_a_read_the_server_does_not_answer_goes_to_nats_py_not_to_the_caller(
    own_server: EmbeddedNats, unique_name: str
) -> None:
    """A silent server (here frozen; in a cluster, a leader election after a node restart)
    makes a wire read time out: the read is handed back (None) so the nats-py path, which
    reconnects and retries by itself, serves it, instead of the caller getting TimeoutError."""
    factory, rec = open_recorder(own_server.url, unique_name)
    reads = WireReads(WireClient(own_server.url, unique_name), SubjectLayout(unique_name))
    try:
        rec.insert_events([event(uuid4(), 1) for _ in range(3)])
        assert reads.notifications(1, 100, None, set()) is not None  # a pooled connection
        assert own_server.pid is not None
        freeze(own_server.pid)
        try:
            started = time.monotonic()
            assert reads.notifications(1, 100, None, set()) is None
            assert time.monotonic() - started < READ_WAIT + 20  # it gives up after its wait
        finally:
            os.kill(own_server.pid, signal.SIGCONT)
        assert len(rec.select_notifications(None, 100)) == 3  # served once the server answers
    finally:
        reads.close()
        factory.close()
