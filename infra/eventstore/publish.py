"""The two ways a save reaches JetStream: one acknowledged publish, or one atomic batch."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from nats.aio.client import Client as NATS

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


def _last_seq(reply_data: bytes) -> tuple[int, int]:
    ack = json.loads(reply_data)
    error = ack.get("error")
    if error is not None:
        raise PublishRejected(int(error.get("err_code", 0)), str(error.get("description")))
    return int(ack["seq"]), int(ack.get("count", 1))


async def publish_one(nc: NATS, message: Message, *, ack_wait: float) -> int:
    reply = await nc.request(message.subject, message.data, ack_wait, headers=message.headers)
    return _last_seq(reply.data)[0]


async def publish_atomic(nc: NATS, messages: list[Message], *, ack_wait: float) -> list[int]:
    """All ``messages`` stored together, at consecutive sequences, or none (JetStream ADR-50)."""
    batch_id = uuid.uuid4().hex
    last = len(messages)
    for i, m in enumerate(messages[:-1], 1):
        headers = {**m.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(i)}
        await nc.publish(m.subject, m.data, headers=headers)
    m = messages[-1]
    headers = {**m.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(last), BATCH_COMMIT: "1"}
    reply = await nc.request(m.subject, m.data, ack_wait, headers=headers)
    seq, count = _last_seq(reply.data)
    return list(range(seq - count + 1, seq + 1))
