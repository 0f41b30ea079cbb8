"""Each guarantee of the JetStream event store, shown on a real nats-server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from uuid import uuid4

import nats
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from nats.aio.client import Client as NATS

from infra.eventstore import JetStreamFactory
from infra.eventstore.errors import ConcurrencyConflict, TrackingConflict
from infra.eventstore.recorders import JetStreamApplicationRecorder, JetStreamProcessRecorder
from infra.eventstore.records import RawRecord
from infra.eventstore.security import NatsSecurity
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.verify import VerificationReport, read_all, verify_records, verify_stream


def event(originator_id: object, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator_id, version, "sportcast:Fixture.Scheduled", state)  # type: ignore[arg-type]


@pytest.fixture
def factories(store_env: dict[str, str], unique_name: str) -> Iterator[list[JetStreamFactory]]:
    """Independent writers (own connection, own caches) on one fresh stream; once per server
    profile (plain, TLS + NKey, TLS + NKey through nats-py alone: tests/conftest.py)."""
    made: list[JetStreamFactory] = []

    def make(**extra: str) -> JetStreamFactory:
        f = JetStreamFactory({**store_env, "NATS_STREAM": unique_name, "NATS_LINK": "own", **extra})
        made.append(f)
        return f

    made.append(make())
    yield made
    for f in made:
        f.close()


def verify(store_env: dict[str, str], stream: str) -> VerificationReport:
    security = NatsSecurity.from_environment(store_env)
    return verify_stream(store_env["NATS_URL"], stream, security=security)


async def connect(store_env: dict[str, str]) -> NATS:
    url = store_env["NATS_URL"]
    return await nats.connect(url, **NatsSecurity.from_environment(store_env).nats_py_options(url))


def recorder(factories: list[JetStreamFactory], i: int = 0) -> JetStreamApplicationRecorder:
    while len(factories) <= i:
        factories.append(
            JetStreamFactory({k: v for k, v in factories[0].env.items()})  # same stream
        )
    r = factories[i].application_recorder()
    assert isinstance(r, JetStreamApplicationRecorder)
    return r


def test_notification_ids_are_stream_sequences_and_only_grow(
    factories: list[JetStreamFactory],
) -> None:
    rec = recorder(factories)
    returned: list[list[int]] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(20):
            a, b = uuid4(), uuid4()
            ids = rec.insert_events([event(a, 1), event(a, 2), event(b, 1)])
            assert ids is not None
            with lock:
                returned.append(list(ids))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    notifications = rec.select_notifications(start=None, limit=1000)
    ids = [n.id for n in notifications]
    assert len(ids) == 240
    assert ids == sorted(set(ids))  # strictly increasing
    assert sorted(i for save in returned for i in save) == ids
    for save in returned:  # one save, one contiguous run of the global order
        assert save == list(range(save[0], save[0] + len(save)))
    stream = rec.stream
    raw = stream.link.run(read_all(stream.reader, stream.layout))
    assert [r.seq for r in raw if stream.layout.is_event(r.subject)] == ids


def test_a_save_stores_its_events_in_the_order_given_across_aggregates(
    factories: list[JetStreamFactory], store_env: dict[str, str]
) -> None:
    """The log is the application's order: a save interleaving aggregates (a fixture's kick-off
    between two quotes of its odds book, say) is not regrouped by aggregate."""
    rec = recorder(factories)
    a, b, c = uuid4(), uuid4(), uuid4()
    given = [event(a, 1), event(b, 1), event(a, 2), event(c, 1), event(b, 2), event(a, 3)]
    ids = rec.insert_events(given)
    assert ids is not None
    stored = rec.select_notifications(start=None, limit=100)
    assert [(n.originator_id, n.originator_version) for n in stored] == [
        (e.originator_id, e.originator_version) for e in given
    ]
    assert [n.id for n in stored] == list(ids)
    report = verify(store_env, rec.stream.layout.stream)
    assert report.ok, report.problems  # each aggregate's chain holds across the interleaving
    assert report.events == len(given)


def test_two_writers_of_one_version_exactly_one_wins(factories: list[JetStreamFactory]) -> None:
    first, second = recorder(factories, 0), recorder(factories, 1)
    for _ in range(10):
        agg = uuid4()
        first.insert_events([event(agg, 1)])
        # Both load the aggregate (so both know its head), then both save version 2.
        first.select_events(agg)
        second.select_events(agg)
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def save(rec: JetStreamApplicationRecorder, state: bytes) -> None:
            start.wait()
            try:
                rec.insert_events([event(agg, 2, state), event(agg, 3, state)])
                outcomes.append("won")
            except IntegrityError:
                outcomes.append("conflict")

        threads = [
            threading.Thread(target=save, args=(first, b'{"w":1}')),
            threading.Thread(target=save, args=(second, b'{"w":2}')),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "won"]
        stored = first.select_events(agg)
        assert [e.originator_version for e in stored] == [1, 2, 3]
        assert stored[1].state == stored[2].state  # both from the single winner


def test_stale_writer_is_refused_by_the_server(factories: list[JetStreamFactory]) -> None:
    """A writer whose idea of the head is old cannot overwrite history or fork the chain."""
    writer, other = recorder(factories, 0), recorder(factories, 1)
    agg = uuid4()
    writer.insert_events([event(agg, 1)])  # writer caches head v1
    other.select_events(agg)
    other.insert_events([event(agg, 2)])  # the real head is now v2
    with pytest.raises(ConcurrencyConflict):
        writer.insert_events([event(agg, 2, b'{"stale":true}')])
    assert [e.state for e in writer.select_events(agg)] == [b"{}", b"{}"]


def test_a_save_over_several_aggregates_is_all_or_nothing(
    factories: list[JetStreamFactory],
) -> None:
    rec = recorder(factories)
    taken = uuid4()
    rec.insert_events([event(taken, 1)])
    before = rec.max_notification_id()
    fresh_a, fresh_b = uuid4(), uuid4()
    # The clash is on the third message of the batch, not the first.
    with pytest.raises(IntegrityError):
        rec.insert_events(
            [event(fresh_a, 1), event(fresh_a, 2), event(taken, 1), event(fresh_b, 1)]
        )
    # ... and a writer that does not know the head yet: the server refuses the whole batch.
    other = recorder(factories, 1)
    with pytest.raises(IntegrityError):
        other.insert_events([event(fresh_a, 1), event(taken, 1), event(fresh_b, 1)])
    assert rec.select_events(fresh_a) == []
    assert rec.select_events(fresh_b) == []
    assert rec.max_notification_id() == before


def test_redelivered_upstream_event_never_duplicates_even_after_the_window(
    factories: list[JetStreamFactory],
) -> None:
    env = {**factories[0].env, "NATS_DUPLICATE_WINDOW": "0.5"}
    factories.append(JetStreamFactory(env))
    process = factories[-1].process_recorder()
    assert isinstance(process, JetStreamProcessRecorder)
    process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 5))
    time.sleep(1.0)  # past the duplicate window: Nats-Msg-Id can no longer help
    # Re-processing notification 5 makes new aggregates (new ids): only tracking can stop it.
    with pytest.raises(TrackingConflict):
        process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 5))
    # A second instance that knows nothing yet is stopped the same way.
    factories.append(JetStreamFactory(env))
    fresh = factories[-1].process_recorder()
    with pytest.raises(TrackingConflict):
        fresh.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 5))
    # And the server itself enforces it: a writer with an old tracking head is refused.
    fresh.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 6))
    with pytest.raises(TrackingConflict):
        process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 6))
    assert len(process.select_notifications(None, 100)) == 2  # one for 5, one for 6
    assert process.max_tracking_id("upstream") == 6


async def test_stream_denies_delete_and_purge_and_has_no_limits(
    factories: list[JetStreamFactory], store_env: dict[str, str]
) -> None:
    rec = recorder(factories)
    rec.insert_events([event(uuid4(), 1)])
    name = rec.stream.layout.stream
    nc = await connect(store_env)
    try:
        info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"")).data)
        config = info["config"]
        assert config["deny_delete"]
        assert config["deny_purge"]
        assert (config["max_age"], config["max_bytes"], config["max_msgs"]) == (0, -1, -1)
        secured = "NATS_NKEY_SEED_FILE" in store_env
        for api, body, code in (
            (f"$JS.API.STREAM.MSG.DELETE.{name}", b'{"seq": 1}', 10057),
            (f"$JS.API.STREAM.PURGE.{name}", b"", 10110),
        ):
            if secured:  # no user may even ask (infra/natsaccess.py): the server drops it
                with pytest.raises(nats.errors.TimeoutError):
                    await nc.request(api, body, timeout=1)
            else:  # the stream itself refuses
                assert json.loads((await nc.request(api, body)).data)["error"]["err_code"] == code
    finally:
        await nc.close()


def test_verifier_detects_altered_removed_reordered_and_forged_events(
    factories: list[JetStreamFactory], store_env: dict[str, str]
) -> None:
    rec = recorder(factories)
    aggs = [uuid4() for _ in range(3)]
    for v in range(1, 5):
        rec.insert_events([event(a, v, f'{{"v":{v}}}'.encode()) for a in aggs])
    assert rec.stream.write_checkpoint() is not None
    rec.insert_events([event(aggs[0], 5)])  # after the checkpoint
    name = rec.stream.layout.stream
    layout = SubjectLayout(name)

    clean = verify(store_env, name)
    assert clean.ok, clean.problems
    assert (clean.events, clean.checkpoints) == (13, 1)

    records = rec.stream.link.run(read_all(rec.stream.reader, layout))

    def kinds(tampered: list[RawRecord]) -> set[str]:
        report = verify_records(layout, tampered)
        assert not report.ok
        return {p.kind for p in report.problems}

    altered = list(records)
    altered[4] = replace(altered[4], data=b'{"v":999}')
    assert "altered-event" in kinds(altered)

    removed = records[:4] + records[5:]
    assert {"missing-sequence", "broken-chain"} <= kinds(removed)

    swapped = list(records)
    swapped[0], swapped[3] = (
        replace(records[3], seq=records[0].seq),
        replace(records[0], seq=records[3].seq),
    )
    assert kinds(swapped) & {"broken-chain", "out-of-order", "checkpoint-mismatch"}

    # A forger who recomputes the content hash still breaks the chain and the checkpoint.
    victim = records[1]
    forged_headers = dict(victim.headers)
    forged_state = b'{"v":"forged"}'
    from infra.eventstore import chain

    forged_headers["Es-Hash"] = chain.event_hash(
        key=b"",
        prev=forged_headers["Es-Prev"],
        aggregate=victim.subject,
        version=int(forged_headers["Es-Version"]),
        topic=forged_headers["Es-Topic"],
        state=forged_state,
    )
    forged = list(records)
    forged[1] = replace(victim, data=forged_state, headers=forged_headers)
    assert {"broken-chain", "checkpoint-mismatch"} <= kinds(forged)

    # Dropping the newest event of an aggregate leaves no broken link, but the checkpoint sees
    # it when the event is covered.
    last_covered = max(r.seq for r in records if r.subject == layout.aggregate(aggs[2]))
    tail_removed = [r for r in records if r.seq != last_covered]
    assert "checkpoint-mismatch" in kinds(tail_removed)


def test_one_event_process_save_is_one_message_carrying_its_position(
    factories: list[JetStreamFactory], store_env: dict[str, str]
) -> None:
    """ADR 0004 "One-message process saves": the position rides on the event message, and
    exactly-once still holds, after the duplicate window and against a racing second instance.
    """
    env = {**factories[0].env, "NATS_DUPLICATE_WINDOW": "0.5"}

    def instance() -> JetStreamProcessRecorder:
        factories.append(JetStreamFactory(env))
        made = factories[-1].process_recorder()
        assert isinstance(made, JetStreamProcessRecorder)
        return made

    process = instance()
    agg = uuid4()
    process.insert_events([event(agg, 1)], tracking=Tracking("upstream", 5))
    layout = process.stream.layout
    stored = process.stream.link.run(read_all(process.stream.reader, layout))
    # One plain message on the aggregate's subject: no tracking message, no atomic batch.
    assert [r.subject for r in stored] == [layout.aggregate(agg)]
    assert (stored[0].headers["Es-Tracking"], stored[0].headers["Es-Tracking-App"]) == (
        "5",
        "upstream",
    )
    assert "Nats-Batch-Id" not in stored[0].headers
    # Positions carried by events are seen by a reader that knows nothing yet.
    assert instance().max_tracking_id("upstream") == 5

    time.sleep(1.0)  # past the duplicate window: Nats-Msg-Id can no longer help
    with pytest.raises(TrackingConflict):  # re-delivered: this writer knows it
        process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 5))
    with pytest.raises(TrackingConflict):  # ... and so does one that knows nothing yet
        instance().insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 5))

    # A writer whose knowledge is old is refused by the server, not by its own cache.
    fresh = instance()
    fresh.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 6))
    with pytest.raises(TrackingConflict):
        process.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", 6))

    # Two instances that both know position 6 race to record 7 on new aggregates (no
    # aggregate check can help): exactly one wins.
    for position in (7, 8, 9):
        racers = [instance(), instance()]
        for racer in racers:
            assert racer.max_tracking_id("upstream") == position - 1
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def race(rec: JetStreamProcessRecorder, pos: int = position) -> None:
            start.wait()
            try:
                rec.insert_events([event(uuid4(), 1)], tracking=Tracking("upstream", pos))
                outcomes.append("won")
            except IntegrityError:
                outcomes.append("refused")

        threads = [threading.Thread(target=race, args=(r,)) for r in racers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["refused", "won"]

    # One downstream event per upstream position, and the chain verifies.
    assert len(process.select_notifications(None, 100)) == 5  # positions 5, 6, 7, 8, 9
    assert process.max_tracking_id("upstream") == 9
    report = verify(store_env, layout.stream)
    assert report.ok, report.problems


def test_positions_carried_by_events_and_tracking_messages_mix(
    factories: list[JetStreamFactory],
) -> None:
    """max_tracking_id sees the newest position wherever it is: on the tracking subject (a
    tracking-only or several-event save) or on an event message, per upstream application."""
    process = factories[0].process_recorder()
    assert isinstance(process, JetStreamProcessRecorder)
    a, b = uuid4(), uuid4()
    process.insert_events([event(a, 1)], tracking=Tracking("feeds", 1))  # carried
    process.insert_events([], tracking=Tracking("feeds", 2))  # tracking message
    process.insert_events([event(a, 2), event(b, 1)], tracking=Tracking("feeds", 3))  # batch
    process.insert_events([event(b, 2)], tracking=Tracking("health", 10))  # other upstream
    process.insert_events([event(a, 3)], tracking=Tracking("feeds", 4))  # carried
    for _ in range(40):  # events without positions push the carried one back
        process.insert_events([event(uuid4(), 1)])
    reader = JetStreamFactory(factories[0].env)
    factories.append(reader)
    fresh = reader.process_recorder()
    assert fresh.max_tracking_id("feeds") == 4
    assert fresh.max_tracking_id("health") == 10
    assert fresh.max_tracking_id("nobody") is None
    with pytest.raises(TrackingConflict):
        fresh.insert_events([event(uuid4(), 1)], tracking=Tracking("feeds", 4))
    fresh.insert_events([], tracking=Tracking("feeds", 5))
    assert process.max_tracking_id("feeds") == 5
