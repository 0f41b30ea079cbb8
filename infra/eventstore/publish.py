"""The two ways a save reaches JetStream: one acknowledged publish, or one atomic batch.

Both go over a :class:`Channel`: our own connection (wire_publish.py) when it is up, else
nats-py. Headers are encoded here once, as bytes, for the wire connection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from infra.eventstore.errors import LineBreakInHeader
from infra.eventstore.wire_publish import WirePublisher

# Batch ids: unique among a stream's batches in flight; a random stem per process and a counter
# (uuid4 reads os.urandom, which cost ~0.1-0.2 ms a call on our loaded machines).
_BATCH_PREFIX = secrets.token_hex(10)
_batch_counter = itertools.count(1)

WRONG_LAST_SEQUENCE = 10071
DUPLICATE_MSG_ID_IN_BATCH = 10201

BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"  # the whole stream's last sequence


@dataclass(slots=True)
class Message:
    subject: str
    data: bytes
    headers: dict[str, str]
    # The same headers as ``Name: value\r\n`` lines, when the planner wrote them already
    # (values it checked for line breaks); kept in step by :meth:`add_header`.
    lines: str | None = None

    def add_header(self, name: str, value: str) -> None:
        self.headers[name] = value
        if self.lines is not None:
            self.lines += f"{name}: {value}\r\n"

    def header_block(self, extra: str = "") -> bytes:
        """The encoded header block, with ``extra`` (our own preformatted lines) appended."""
        if self.lines is None:
            return encode_headers(self.headers, extra)
        return f"NATS/1.0\r\n{self.lines}{extra}\r\n".encode()


class PublishRejected(Exception):
    """JetStream answered the publish with an API error."""

    def __init__(self, err_code: int, description: str) -> None:
        super().__init__(f"JetStream rejected the publish ({err_code}): {description}")
        self.err_code = err_code
        self.description = description

    @property
    def is_wrong_last_sequence(self) -> bool:
        return self.err_code == WRONG_LAST_SEQUENCE


class Acks:
    """Request/reply for publishes: one wildcard inbox, a counter token and one timer each.

    ``nc.request`` costs more per call (a NUID plus ``os.urandom`` token, a done-callback and
    ``asyncio.wait_for``'s extra future); with many saves in flight that is loop-thread time.
    """

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox() + "."
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._subscribed: asyncio.Task[None] | None = None

    async def _subscribe(self) -> None:
        await self._nc.subscribe(self._prefix + "*", cb=self._on_reply)

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def request(
        self, subject: str, data: bytes, headers: dict[str, str], ack_wait: float
    ) -> Msg:
        if self._subscribed is None:
            self._subscribed = asyncio.get_running_loop().create_task(self._subscribe())
        if not self._subscribed.done():
            await asyncio.shield(self._subscribed)
        token = str(next(self._ids))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = future
        timer = loop.call_later(ack_wait, _time_out, future)
        try:
            await self._nc.publish(subject, data, reply=self._prefix + token, headers=headers)
            msg = await future
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        if msg.headers and msg.headers.get("Status") == "503" and not msg.data:
            raise nats.errors.NoRespondersError
        return msg


def _time_out(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(nats.errors.TimeoutError())


def parse_ack(reply_data: bytes) -> tuple[int, int]:
    # The common answer, {"stream":"S","seq":N} (maybe with "domain"/"duplicate"), without json.
    if b'"error"' not in reply_data and b'"count"' not in reply_data:
        i = reply_data.find(b'"seq":')
        if i >= 0:
            i += 6
            end = reply_data.find(b",", i)
            if end < 0:
                end = reply_data.find(b"}", i)
            digits = reply_data[i:end].strip()
            if digits.isdigit():
                return int(digits), 1
    ack = json.loads(reply_data)
    error = ack.get("error")
    if error is not None:
        raise PublishRejected(int(error.get("err_code", 0)), str(error.get("description")))
    return int(ack["seq"]), int(ack.get("count", 1))


def encode_headers(headers: Mapping[str, str], extra: str = "") -> bytes:
    """A NATS header block (``extra``: preformatted ``Name: value\\r\\n`` lines appended)."""
    body = "".join([f"{k}: {v}\r\n" for k, v in headers.items()]) + extra
    lines = len(headers) + extra.count("\r\n")
    if body.count("\n") != lines or body.count("\r") != lines:
        raise LineBreakInHeader("a header value holds a line break")
    return ("NATS/1.0\r\n" + body + "\r\n").encode()


class Channel:
    """Where publishes go: our wire connection while it is up, else nats-py (and reconnect)."""

    def __init__(self, nc: NATS, wire: WirePublisher | None = None) -> None:
        self.nc = nc
        self.wire = wire
        self.acks = Acks(nc)

    def usable_wire(self) -> WirePublisher | None:
        wire = self.wire
        if wire is None:
            return None
        if wire.ready:
            return wire
        wire.start()  # reconnects in the background; nats-py serves meanwhile
        return None


async def publish_one(
    target: NATS | Channel, message: Message, *, ack_wait: float, acks: Acks | None = None
) -> int:
    if isinstance(target, Channel):
        wire = target.usable_wire()
        if wire is not None:
            header = message.header_block()
            reply = await wire.ask(message.subject, header, message.data, wait=ack_wait)
            return parse_ack(reply)[0]
        acks = target.acks
        target = target.nc
    if acks is not None:
        msg = await acks.request(message.subject, message.data, message.headers, ack_wait)
    else:
        msg = await target.request(message.subject, message.data, ack_wait, headers=message.headers)
    return parse_ack(msg.data)[0]


async def publish_atomic(
    target: NATS | Channel, messages: list[Message], *, ack_wait: float, acks: Acks | None = None
) -> list[int]:
    """All ``messages`` stored together, at consecutive sequences, or none (JetStream ADR-50)."""
    batch_id = f"{_BATCH_PREFIX}{next(_batch_counter):x}"
    last = len(messages)
    if isinstance(target, Channel):
        wire = target.usable_wire()
        if wire is not None:
            stem = f"{BATCH_ID}: {batch_id}\r\n{BATCH_SEQUENCE}: "
            wire.publish_many(
                [
                    (m.subject, m.header_block(f"{stem}{i}\r\n"), m.data)
                    for i, m in enumerate(messages[:-1], 1)
                ]
            )
            m = messages[-1]
            header = m.header_block(f"{stem}{last}\r\n{BATCH_COMMIT}: 1\r\n")
            reply = await wire.ask(m.subject, header, m.data, wait=ack_wait)
            seq, count = parse_ack(reply)
            return list(range(seq - count + 1, seq + 1))
        acks = target.acks
        target = target.nc
    nc = target
    for i, m in enumerate(messages[:-1], 1):
        headers = {**m.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(i)}
        await nc.publish(m.subject, m.data, headers=headers)
    m = messages[-1]
    headers = {**m.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(last), BATCH_COMMIT: "1"}
    if acks is not None:
        msg = await acks.request(m.subject, m.data, headers, ack_wait)
    else:
        msg = await nc.request(m.subject, m.data, ack_wait, headers=headers)
    seq, count = parse_ack(msg.data)
    return list(range(seq - count + 1, seq + 1))
