"""The raw-protocol read path (wire.py) returns exactly what the nats-py path returns."""

from __future__ import annotations

import gc
import itertools
import random
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Notification, StoredEvent, Tracking

from infra.embedded.ports import free_port
from infra.eventstore import JetStreamFactory, wire_reads
from infra.eventstore.decode import notification_decoder, stored_event_decoder
from infra.eventstore.eventstream import EventStream
from infra.eventstore.gcpause import gc_held
from infra.eventstore.recorders import JetStreamProcessRecorder
from infra.eventstore.records import RawRecord, make_notification, make_stored_event
from infra.eventstore.wire import (
    DirectGetFailed,
    Frame,
    WireClient,
    WireUnsupported,
    _Connection,
    as_frame,
    header_value,
    parse_headers,
    parse_urls,
)

TOPICS = ("sportcast:Fixture.Scheduled", "sportcast:Odds.Quoted", "sportcast:Result.Final")


@pytest.fixture
def filled(nats_url: str, unique_name: str) -> Iterator[tuple[EventStream, list[StoredEvent]]]:
    """A stream with events of several aggregates and topics, tracking positions between."""
    factory = JetStreamFactory({"NATS_URL": nats_url, "NATS_STREAM": unique_name})
    rec = factory.process_recorder()
    assert isinstance(rec, JetStreamProcessRecorder)
    rng = random.Random(7)
    ids: list[object] = [uuid4() for _ in range(5)] + ["fixture:é/1", "x"]
    versions = dict.fromkeys(ids, 0)
    saved: list[StoredEvent] = []
    for n in range(60):
        batch = []
        for oid in rng.sample(ids, rng.randint(1, 3)):
            for _ in range(rng.randint(1, 4)):
                versions[oid] += 1
                state = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
                batch.append(StoredEvent(oid, versions[oid], rng.choice(TOPICS), state))  # type: ignore[arg-type]
        tracking = Tracking("upstream", n + 1) if n % 7 == 0 else None
        rec.insert_events(batch, tracking=tracking)
        saved.extend(batch)
    rec.stream.write_checkpoint()
    try:
        yield rec.stream, saved
    finally:
        factory.close()


def _slow(stream: EventStream) -> EventStream:
    """The same stream object, reading through nats-py only."""
    stream._wire = None
    return stream


def test_wire_frames_equal_nats_py_records_across_batch_boundaries(
    filled: tuple[EventStream, list[StoredEvent]],
) -> None:
    stream, _ = filled
    assert stream._wire is not None
    expected: list[RawRecord] = stream.link.run(
        stream.reader.batch(subject=stream.layout.all_subjects, start_seq=1, limit=1 << 62)
    )
    assert len(expected) > 200
    got: list[Frame] = []
    seq = 1
    for size in itertools.cycle((1, 7, 50)):
        reply = stream._wire.request(
            {"seq": seq, "next_by_subj": stream.layout.all_subjects, "batch": size},
            as_frame,
            wait=10,
        )
        got.extend(reply.items)
        if not reply.items:
            assert reply.status == b"404"
            break
        assert reply.status == b"204"
        assert reply.num_pending == len(expected) - len(got)
        seq = int(parse_headers(reply.last_header)["Nats-Sequence"]) + 1
    records = [
        RawRecord(int(h["Nats-Sequence"]), h["Nats-Subject"], h, data)
        for h, data in ((parse_headers(header), data) for header, data in got)
    ]
    # nats-py's headers carry the batch bookkeeping of its own (1,000-message) requests.
    volatile = ("Nats-Num-Pending", "Nats-Last-Sequence")

    def stable(r: RawRecord) -> RawRecord:
        return RawRecord(
            r.seq, r.subject, {k: v for k, v in r.headers.items() if k not in volatile}, r.data
        )

    assert [stable(r) for r in records] == [stable(r) for r in expected]
    for (header, _), record in zip(got, records, strict=True):
        for name, value in record.headers.items():
            assert header_value(header, name.encode()) == value.encode()


@pytest.mark.parametrize("consumer_from", [4, 100_000])  # through a consumer, or never
def test_select_notifications_equals_nats_py_path(
    filled: tuple[EventStream, list[StoredEvent]],
    monkeypatch: pytest.MonkeyPatch,
    consumer_from: int,
) -> None:
    stream, saved = filled
    monkeypatch.setattr(wire_reads, "WIRE_BATCH", 13)  # many pages per read
    monkeypatch.setattr(wire_reads, "CONSUMER_FROM", consumer_from)
    monkeypatch.setattr(wire_reads, "PROBE", 2)  # a long read's first Direct Get batch
    top = stream.max_notification_id()
    assert top is not None
    cases: list[tuple[int | None, int, int | None, tuple[str, ...], bool]] = [
        (None, 10_000, None, (), True),
        (1, 5, None, (), True),
        (5, 40, None, (), False),
        (20, 1000, 90, (), True),
        (20, 1000, 90, (TOPICS[1],), False),
        (None, 17, None, (TOPICS[0], TOPICS[2]), True),
        (top, 10, None, (), True),  # the last one
        (top, 10, None, (), False),  # empty: nothing after the last
        (top + 100, 10, None, (), True),  # empty: beyond the end
        (50, 10, 40, (), True),  # empty: stop before start
    ]
    fast = [
        stream.select_notifications(s, n, e, t, inclusive_of_start=i) for s, n, e, t, i in cases
    ]
    slow_stream = _slow(stream)
    slow = [
        slow_stream.select_notifications(s, n, e, t, inclusive_of_start=i)
        for s, n, e, t, i in cases
    ]
    assert fast == slow
    assert [type(n) for page in fast for n in page] == [Notification] * sum(map(len, fast))
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in fast[0]] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in saved
    ]
    assert fast[7] == fast[8] == fast[9] == []


@pytest.mark.parametrize("consumer_from", [2, 100_000])  # through a consumer, or never
def test_select_events_and_heads_equal_nats_py_path(
    filled: tuple[EventStream, list[StoredEvent]],
    monkeypatch: pytest.MonkeyPatch,
    consumer_from: int,
) -> None:
    stream, saved = filled
    monkeypatch.setattr(wire_reads, "WIRE_BATCH", 3)
    monkeypatch.setattr(wire_reads, "CONSUMER_FROM", consumer_from)
    ids = [*dict.fromkeys(e.originator_id for e in saved), uuid4()]  # one never saved
    kwargs: list[dict[str, object]] = [
        {},
        {"gt": 2},
        {"lte": 3},
        {"gt": 1, "lte": 4, "desc": True},
        {"desc": True, "limit": 1},
        {"limit": 2},
    ]
    fast = [stream.select_events(i, **k) for i in ids for k in kwargs]  # type: ignore[arg-type]
    # Again, now that the heads are known (long aggregates go straight to a consumer).
    assert fast == [stream.select_events(i, **k) for i in ids for k in kwargs]  # type: ignore[arg-type]
    fast_heads = [stream.appender._heads.get(stream.layout.aggregate(i)) for i in ids]
    fast_max = (stream.max_notification_id(), stream.max_tracking_id("upstream"))
    slow_stream = _slow(stream)
    slow_stream.appender._heads = type(stream.appender._heads)()
    slow = [slow_stream.select_events(i, **k) for i in ids for k in kwargs]  # type: ignore[arg-type]
    slow_heads = [slow_stream.appender._heads.get(stream.layout.aggregate(i)) for i in ids]
    assert fast == slow
    assert fast_heads == slow_heads
    assert fast_heads[0] is not None
    assert fast_heads[-1] is None
    assert fast_max == (slow_stream.max_notification_id(), slow_stream.max_tracking_id("upstream"))
    assert fast_max[1] == 57  # the last tracking position written (n = 56)
    assert [e for e in saved if e.originator_id == ids[0]] == fast[0]


def test_reads_fall_back_to_nats_py_when_the_wire_path_cannot_connect(
    filled: tuple[EventStream, list[StoredEvent]],
) -> None:
    stream, saved = filled
    expected = stream.select_notifications(None, 10_000)
    stream._wire = WireClient(f"nats://127.0.0.1:{free_port()}", stream.settings.stream)
    assert stream.select_notifications(None, 10_000) == expected
    assert stream.select_events(saved[0].originator_id) == [
        e for e in saved if e.originator_id == saved[0].originator_id
    ]


def test_reads_stay_on_direct_get_when_consumers_are_refused(
    filled: tuple[EventStream, list[StoredEvent]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream, saved = filled
    expected = stream.select_notifications(None, 10_000)
    monkeypatch.setattr(wire_reads, "CONSUMER_FROM", 4)
    refusals: list[int] = []

    def refuse(*_args: object, **_kwargs: object) -> None:
        refusals.append(1)
        raise DirectGetFailed("10026", "maximum consumers limit reached")

    monkeypatch.setattr(WireClient, "consume", refuse)
    assert stream.select_notifications(None, 10_000) == expected
    assert stream.select_events(saved[0].originator_id) == [
        e for e in saved if e.originator_id == saved[0].originator_id
    ]
    assert refusals == [1]  # asked once, then not again for a while


def test_wire_reader_errors_and_unsupported_urls(nats_url: str, unique_name: str) -> None:
    with pytest.raises(WireUnsupported):
        parse_urls("ws://127.0.0.1:4222")
    assert parse_urls("tls://127.0.0.1:4222")[0].tls  # TLS whatever the server says
    assert parse_urls("nats://u:p@h:1, tok@h2:2,h3") == [
        parse_urls("nats://u:p@h:1")[0],
        parse_urls("nats://tok@h2:2")[0],
        parse_urls("nats://h3:4222")[0],
    ]
    assert parse_urls("nats://tok@h2:2")[0].token == "tok"
    wire = WireClient(nats_url, unique_name)  # no such stream: no responders
    try:
        with pytest.raises(DirectGetFailed) as failed:
            wire.request({"seq": 1, "batch": 10}, as_frame, wait=5)
        assert failed.value.status == "503"
    finally:
        wire.close()


class _TricklingSocket:
    """Serves a byte string a few bytes per recv, recording what the client sends."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = data
        self._rng = random.Random(seed)
        self.sent = b""

    def recv(self, _size: int) -> bytes:
        n = self._rng.randint(1, 9)
        chunk, self._data = self._data[:n], self._data[n:]
        return chunk

    def settimeout(self, _timeout: float) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.sent += data


def _hmsg(subject: bytes, header: bytes, data: bytes) -> bytes:
    return b"HMSG %s 1 %d %d\r\n%s%s\r\n" % (
        subject,
        len(header),
        len(header) + len(data),
        header,
        data,
    )


@pytest.mark.parametrize("seed", range(5))
def test_parser_handles_frames_split_anywhere_pings_and_foreign_replies(seed: int) -> None:
    reply_to = b"_INBOX.t.1"
    frames = [
        (b"NATS/1.0\r\nNats-Sequence: 1\r\nEs-Topic: a\r\n\r\n", b"x" * 300),
        (b"NATS/1.0\r\nNats-Sequence: 2\r\nEs-Topic:  b \r\n\r\n", b""),
        (b"NATS/1.0\r\nNats-Sequence: 3\r\n\r\n", b"\r\nHMSG fake 1 2 2\r\n"),
    ]
    stream = (
        b"INFO {}\r\n"
        + _hmsg(reply_to, *frames[0])
        + b"PING\r\n"
        + _hmsg(b"_INBOX.t.0", b"NATS/1.0\r\n\r\n", b"stale")
        + b"MSG _INBOX.t.1 1 3\r\nabc\r\n"
        + _hmsg(reply_to, *frames[1])
        + _hmsg(reply_to, *frames[2])
        + _hmsg(reply_to, b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 4\r\n\r\n", b"")
    )
    conn = object.__new__(_Connection)
    sock = _TricklingSocket(stream, seed)
    conn.sock = sock  # type: ignore[assignment]
    conn.buf, conn.pos, conn.inbox, conn.ids = b"", 0, b"_INBOX.t", itertools.count(1)
    assert conn._line(deadline=float("inf")) == b"INFO {}"
    reply = conn.request(b"API", b"{}", as_frame, wait=5, single=False)
    assert reply.items == frames
    assert (reply.status, reply.num_pending, reply.messages) == (b"204", 4, 3)
    assert reply.last_header == frames[2][0]
    assert sock.sent == b"PUB API _INBOX.t.1 2\r\n{}\r\nPONG\r\n"
    assert header_value(frames[1][0], b"Es-Topic") == b"b"
    assert parse_headers(frames[1][0]) == {"Nats-Sequence": "2", "Es-Topic": "b"}
    assert parse_headers(b"NATS/1.0 404 Message Not Found\r\n\r\n") == {
        "Status": "404",
        "Description": "Message Not Found",
    }


@pytest.mark.parametrize("seed", range(5))
def test_consumer_reader_handles_split_frames_strays_and_the_end(seed: int) -> None:
    stream_name, consumer = "S", "sc1"
    ack = b"$JS.ACK.S.sc1.1.%d.%d.1795445710865519781.%d"

    def delivered(subject: bytes, seq: int, pending: int, header: bytes, data: bytes) -> bytes:
        reply = ack % (seq, seq, pending)
        size = len(header) + len(data)
        return b"HMSG %s 1 %s %d %d\r\n%s%s\r\n" % (
            subject,
            reply,
            len(header),
            size,
            header,
            data,
        )

    created = b'{"type":"io.nats.jetstream.api.v1.consumer_create_response","name":"sc1"}'
    h1 = b"NATS/1.0\r\nEs-Topic: a\r\n\r\n"
    server = (
        b"MSG _INBOX.t.0 1 2\r\n{}\r\n"  # a stray answer to an earlier request
        + b"MSG _INBOX.t.1 1 %d\r\n%s\r\n" % (len(created), created)
        + delivered(b"es.S.evt.ua", 7, 2, h1, b"x" * 200)
        + b"PING\r\n"
        + delivered(b"es.S.trk.b", 9, 1, b"NATS/1.0\r\n\r\n", b"")
        + delivered(b"es.S.evt.ub", 12, 0, h1, b"\r\nHMSG fake 1 2 2\r\n")
        + _hmsg(b"_INBOX.t.2", b"NATS/1.0 404 No Messages\r\n\r\n", b"")
    )
    conn = object.__new__(_Connection)
    sock = _TricklingSocket(server, seed)
    conn.sock = sock  # type: ignore[assignment]
    conn.buf, conn.pos, conn.inbox, conn.ids = b"", 0, b"_INBOX.t", itertools.count(1)
    got = conn.consume(
        stream_name,
        {"deliver_policy": "all"},
        lambda subject, seq, header, data: (
            subject,
            seq,
            header_value(header, b"Es-Topic"),
            data,
        ),
        limit=100,
        wait=5,
        name=consumer,
    )
    assert got.items == [
        (b"es.S.evt.ua", 7, b"a", b"x" * 200),
        (b"es.S.trk.b", 9, None, b""),
        (b"es.S.evt.ub", 12, b"a", b"\r\nHMSG fake 1 2 2\r\n"),
    ]
    assert (got.messages, got.last_seq, got.last_header) == (3, 12, h1)
    sent = sock.sent.split(b"\r\n")
    assert sent[0].startswith(b"PUB $JS.API.CONSUMER.CREATE.S.sc1 _INBOX.t.1 ")
    assert sent[2] == b"PUB $JS.API.CONSUMER.MSG.NEXT.S.sc1 _INBOX.t.2 28"
    assert sent[3] == b'{"batch":100,"no_wait":true}'
    assert b"PONG" in sent
    # The consumer's delete goes out with the connection's next request, not in a send of its own.
    delete = b"PUB $JS.API.CONSUMER.DELETE.S.sc1 _INBOX.t.3 0\r\n\r\n"
    assert delete not in sock.sent
    sock._data = _hmsg(b"_INBOX.t.4", b"NATS/1.0 404 No Messages\r\n\r\n", b"")
    conn.request(b"API", b"{}", as_frame, wait=5, single=False)
    assert sock.sent.endswith(delete + b"PUB API _INBOX.t.4 2\r\n{}\r\n")
    assert conn.unsent == b""


def test_fast_record_builders_equal_the_dataclass_constructors() -> None:
    oid = uuid4()
    assert make_notification(3, oid, 2, "t", b"s") == Notification(
        id=3, originator_id=oid, originator_version=2, topic="t", state=b"s"
    )
    assert make_stored_event(oid, 2, "t", b"s") == StoredEvent(oid, 2, "t", b"s")
    assert vars(make_notification(3, oid, 2, "t", b"s")) == vars(
        Notification(id=3, originator_id=oid, originator_version=2, topic="t", state=b"s")
    )


def test_decoders_read_headers_as_nats_py_does() -> None:
    """Last occurrence wins, values are stripped, filters apply; as the nats-py path reads."""
    oid = uuid4()
    plain = b"NATS/1.0\r\nEs-Version: 7\r\nEs-Topic: a:B\r\nEs-Hash: h\r\n\r\n"
    odd = b"NATS/1.0\r\nEs-Topic: x\r\nEs-Version:  8 \r\nEs-Topic:\ta:C  \r\n\r\n"
    for header, version, topic in ((plain, 7, "a:B"), (odd, 8, "a:C")):
        parsed = parse_headers(header)
        assert (int(parsed["Es-Version"]), parsed["Es-Topic"]) == (version, topic)
        event = stored_event_decoder(oid, gt=None, lte=None)(b"", 0, header, b"s")
        assert event == StoredEvent(oid, version, topic, b"s")
        subject = f"es.S.evt.u{oid.hex}".encode()
        note = notification_decoder(b"es.S.evt.", _oid, ())(subject, 3, header, b"s")
        assert note == Notification(
            id=3, originator_id=oid, originator_version=version, topic=topic, state=b"s"
        )
    assert stored_event_decoder(oid, gt=7, lte=None)(b"", 0, plain, b"") is None
    assert stored_event_decoder(oid, gt=None, lte=6)(b"", 0, plain, b"") is None
    assert stored_event_decoder(oid, gt=6, lte=7)(b"", 0, plain, b"") is not None
    events = notification_decoder(b"es.S.evt.", _oid, {"a:B"})
    assert events(b"es.S.trk.app", 4, plain, b"") is None  # not an event
    assert events(b"es.S.evt.ux", 5, odd, b"") is None  # not a wanted topic
    with pytest.raises(KeyError):
        stored_event_decoder(oid, gt=None, lte=None)(b"", 0, b"NATS/1.0\r\n\r\n", b"")


def _oid(subject: str) -> UUID | str:
    token = subject.rsplit(".", 1)[1]
    return UUID(hex=token[1:]) if token != "ux" else "x"


def test_gc_is_held_off_during_reads_and_restored_after() -> None:
    assert gc.isenabled()
    with gc_held():
        assert not gc.isenabled()
        with gc_held():  # reads on other threads nest
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_held():
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()  # an application that turned it off keeps it off
    try:
        with gc_held():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_consumer_reader_refuses_another_consumers_deliveries() -> None:
    header = b"NATS/1.0\r\nEs-Topic: a\r\n\r\n"
    created = b'{"type":"io.nats.jetstream.api.v1.consumer_create_response","name":"sc1"}'
    stray = b"$JS.ACK.S.sc9.1.7.7.1795445710865519781.0"
    server = b"MSG _INBOX.t.1 1 %d\r\n%s\r\n" % (len(created), created) + (
        b"HMSG es.S.evt.ua 1 %s %d %d\r\n%s\r\n" % (stray, len(header), len(header), header)
    )
    conn = object.__new__(_Connection)
    conn.sock = _TricklingSocket(server, 1)  # type: ignore[assignment]
    conn.buf, conn.pos, conn.inbox, conn.ids = b"", 0, b"_INBOX.t", itertools.count(1)
    with pytest.raises(WireUnsupported):
        conn.consume("S", {}, lambda *_: None, limit=10, wait=5, name="sc1")


def test_a_small_filtered_page_reads_few_messages(
    nats_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page filtered by a rare topic asks the server for a multiple of what it lacks, growing
    while too few match, not for a whole WIRE_BATCH; and it returns what nats-py returns."""
    factory = JetStreamFactory({"NATS_URL": nats_url, "NATS_STREAM": unique_name})
    try:
        rec = factory.application_recorder()
        stream = rec.stream  # type: ignore[attr-defined]
        assert isinstance(stream, EventStream)
        rare, common = TOPICS[0], TOPICS[1]
        for save in range(12):  # 1,200 events; every 150th has the rare topic
            agg = uuid4()
            rec.insert_events(
                [
                    StoredEvent(agg, v, rare if (save * 100 + v) % 150 == 1 else common, b"{}")
                    for v in range(1, 101)
                ]
            )
        passed: list[int] = []  # messages the server sent per request
        reads = stream._reads
        request, consume = reads.request, reads.consume

        def counted_request(*args: Any, **kwargs: Any) -> Any:
            reply = request(*args, **kwargs)
            passed.append(reply.messages if reply is not None else 0)
            return reply

        def counted_consume(*args: Any, **kwargs: Any) -> Any:
            got = consume(*args, **kwargs)
            passed.append(got.messages if got is not None else 0)
            return got

        monkeypatch.setattr(reads, "request", counted_request)
        monkeypatch.setattr(reads, "consume", counted_consume)
        page = stream.select_notifications(None, 3, topics=[rare])
        assert [n.id for n in page] == [1, 151, 301]
        assert sum(passed) <= 2 * 301, passed  # the old read passed all 1,200 messages
        cases = [(None, 1), (None, 3), (2, 2), (400, 5), (1000, 10), (None, 100)]
        fast = [stream.select_notifications(s, n, topics=[rare]) for s, n in cases]
        slow_stream = _slow(stream)
        slow = [slow_stream.select_notifications(s, n, topics=[rare]) for s, n in cases]
        assert fast == slow
        assert [len(p) for p in fast] == [1, 3, 2, 5, 1, 8]
    finally:
        factory.close()
