"""Checkpoints over the global order: a running digest of every event up to a stream sequence.

The per-aggregate chain cannot show that an aggregate's latest events were removed; a checkpoint
can, because it commits to every event (sequence and hash) up to its position. Checkpoints
chain to each other and are appended with an expectation, so two checkpointers never fork.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, replace

from infra.eventstore import chain
from infra.eventstore.publish import EXPECTED_LAST_SUBJECT_SEQUENCE, Message, publish_one
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import HASH
from infra.eventstore.subjects import SubjectLayout

_START = chain.GENESIS


@dataclass(frozen=True, slots=True)
class Checkpoint:
    upto_seq: int  # every event with a sequence <= this is covered
    count: int  # how many events that is
    digest: str  # running digest after the last covered event
    prev_digest: str  # digest of the previous checkpoint (GENESIS for the first)
    key_id: str = ""  # which signing key signed it ("" for an unsigned checkpoint)
    signature: str = ""  # HMAC-SHA256 of the four fields above under that key

    def encode(self) -> bytes:
        fields = asdict(self)
        if not self.key_id:  # unsigned: the same bytes as before signing existed
            del fields["key_id"], fields["signature"]
        return json.dumps(fields).encode()

    @classmethod
    def decode(cls, data: bytes) -> Checkpoint:
        return cls(**json.loads(data))

    def signed_body(self) -> bytes:
        return f"{self.upto_seq}|{self.count}|{self.digest}|{self.prev_digest}".encode()

    def signed(self, key_id: str, secret: bytes) -> Checkpoint:
        mac = hmac.new(secret, self.signed_body(), hashlib.sha256).hexdigest()
        return replace(self, key_id=key_id, signature=mac)

    def signature_valid(self, secret: bytes) -> bool:
        mac = hmac.new(secret, self.signed_body(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, self.signature)


@dataclass(frozen=True)
class SigningKey:
    """The current checkpoint-signing key; older keys stay with the auditor for verification."""

    key_id: str
    secret: bytes


async def write_checkpoint(
    nc_reader: DirectReader,
    layout: SubjectLayout,
    *,
    key: bytes,
    publish_timeout: float = 5.0,
    signing: SigningKey | None = None,
) -> Checkpoint | None:
    """Append a checkpoint covering every event stored so far; None if there is nothing new."""
    last = await nc_reader.last(layout.checkpoints)
    previous = Checkpoint.decode(last.data) if last else Checkpoint(0, 0, _START, _START)
    events = await nc_reader.batch(
        subject=layout.events, start_seq=previous.upto_seq + 1, limit=1 << 62
    )
    if not events:
        return None
    digest, count = previous.digest, previous.count
    for record in events:
        digest = chain.checkpoint_digest(
            key=key, prev_digest=digest, seq=record.seq, hash_=record.headers[HASH]
        )
        count += 1
    checkpoint = Checkpoint(events[-1].seq, count, digest, previous.digest)
    if signing is not None:
        checkpoint = checkpoint.signed(signing.key_id, signing.secret)
    headers = {EXPECTED_LAST_SUBJECT_SEQUENCE: str(last.seq if last else 0)}
    message = Message(layout.checkpoints, checkpoint.encode(), headers)
    await publish_one(nc_reader.nc, message, ack_wait=publish_timeout)
    return checkpoint
