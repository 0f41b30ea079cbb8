"""A process save whose acknowledgement comes too late is its own write, not a tracking conflict.

On a loaded machine a save can be stored while its acknowledgement is not read within the
attempt's wait (2 s). The retry re-plans from what the writer knows; if the writer has read its
position meanwhile (``max_tracking_id``, as a status poll or ``bench_audit`` does through
``ForecasterService.position``), that position is the save's own. It used to refuse itself with
``TrackingConflict`` (the forecaster stopped for good on "feeds already processed notification
118598; cannot record 118598"). Real nats-server; the publish connection's socket is not read
for a while, as a starved event loop would not read it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent, Tracking

from infra.eventstore import JetStreamFactory
from infra.eventstore.errors import TrackingConflict
from infra.eventstore.recorders import JetStreamProcessRecorder
from infra.eventstore.verify import read_all
from infra.eventstore.wire_publish import WirePublisher

pytestmark = pytest.mark.slow


def event(originator_id: object, version: int) -> StoredEvent:
    return StoredEvent(originator_id, version, "sportcast:Fixture.Scheduled", b"{}")  # type: ignore[arg-type]


@pytest.fixture
def factories() -> Iterator[list[JetStreamFactory]]:
    made: list[JetStreamFactory] = []
    yield made
    for factory in made:
        factory.close()


def process_recorder(
    factories: list[JetStreamFactory], env: dict[str, str]
) -> JetStreamProcessRecorder:
    factories.append(JetStreamFactory(env))
    recorder = factories[-1].process_recorder()
    assert isinstance(recorder, JetStreamProcessRecorder)
    return recorder


def reading(factory: JetStreamFactory, publisher: WirePublisher, *, on: bool) -> None:
    """Stop or restart reading the publish connection's socket (the server still answers)."""

    async def switch() -> None:
        proto = publisher._proto
        assert proto is not None
        assert proto.transport is not None
        if on:
            proto.transport.resume_reading()
        else:
            proto.transport.pause_reading()

    factory.link.run(switch(), timeout=10)


@pytest.mark.parametrize("events_per_save", [0, 1, 3])
def test_a_save_stored_but_answered_too_late_returns_its_own_ids(
    factories: list[JetStreamFactory], nats_url: str, unique_name: str, events_per_save: int
) -> None:
    env = {"NATS_URL": nats_url, "NATS_STREAM": unique_name, "NATS_SAVE_TIMEOUT": "20"}
    process = process_recorder(factories, env)
    factory = factories[-1]
    process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 1))
    publisher = factory.link.publisher()
    assert publisher is not None
    assert publisher.ready

    reading(factory, publisher, on=False)  # the next save's acknowledgement stays unread
    agg = uuid4()
    outcome: list[object] = []

    def save() -> None:
        try:
            if events_per_save:
                events = [event(agg, v) for v in range(1, events_per_save + 1)]
                outcome.append(process.insert_events(events, tracking=Tracking("upstream", 2)))
            else:
                outcome.append(process.insert_tracking(Tracking("upstream", 2)))
        except BaseException as exc:
            outcome.append(exc)

    saver = threading.Thread(target=save)
    started = time.monotonic()
    saver.start()
    # The writer asks for its position while the save waits for its acknowledgement: it sees
    # the save's own position once the save is stored.
    while process.max_tracking_id("upstream") != 2:
        assert time.monotonic() - started < 30, "the save was not stored"
        time.sleep(0.01)
    seen_after = time.monotonic() - started
    saver.join(30)
    if publisher._proto is not None:  # not yet dropped as silent (it is after ~4 s)
        reading(factory, publisher, on=True)
    assert outcome, "the save did not finish"
    assert not isinstance(outcome[0], BaseException), (
        f"{outcome[0]!r} (the position was seen {seen_after:.1f} s after the save began)"
    )

    # Stored once, and the ids returned are the stored ones.
    layout = process.stream.layout
    stored = factory.link.run(read_all(process.stream.reader, layout), timeout=10)
    mine = [r for r in stored if r.subject == layout.aggregate(agg)]
    assert [int(r.headers["Es-Version"]) for r in mine] == list(range(1, events_per_save + 1))
    if events_per_save:
        assert list(outcome[0]) == [r.seq for r in mine]  # type: ignore[call-overload]
    positions = [r for r in stored if r.headers.get("Es-Tracking") == "2"]
    assert len(positions) == 1

    # Still exactly once: a new save of the same position is refused, by this writer and by
    # another, and the next position goes through.
    with pytest.raises(TrackingConflict):
        process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 2))
    with pytest.raises(TrackingConflict):
        process_recorder(factories, env).insert_events(
            [event(uuid4(), 1)], tracking=Tracking("upstream", 2)
        )
    process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 3))
    assert process_recorder(factories, env).max_tracking_id("upstream") == 3
