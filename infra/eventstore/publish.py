"""The two ways a save reaches JetStream: one acknowledged publish, or one atomic batch."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

WRONG_LAST_SEQUENCE = 10071
DUPLICATE_MSG_ID_IN_BATCH = 10201

BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    data: bytes
    headers: dict[str, str]


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


async def publish_one(
    nc: NATS, message: Message, *, ack_wait: float, acks: Acks | None = None
) -> int:
    if acks is not None:
        reply = await acks.request(message.subject, message.data, message.headers, ack_wait)
    else:
        reply = await nc.request(message.subject, message.data, ack_wait, headers=message.headers)
    return parse_ack(reply.data)[0]


async def publish_atomic(
    nc: NATS, messages: list[Message], *, ack_wait: float, acks: Acks | None = None
) -> list[int]:
    """All ``messages`` stored together, at consecutive sequences, or none (JetStream ADR-50)."""
    batch_id = uuid.uuid4().hex
    last = len(messages)
    for i, m in enumerate(messages[:-1], 1):
        headers = {**m.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(i)}
        await nc.publish(m.subject, m.data, headers=headers)
    m = messages[-1]
    headers = {**m.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(last), BATCH_COMMIT: "1"}
    if acks is not None:
        reply = await acks.request(m.subject, m.data, headers, ack_wait)
    else:
        reply = await nc.request(m.subject, m.data, ack_wait, headers=headers)
    seq, count = parse_ack(reply.data)
    return list(range(seq - count + 1, seq + 1))
