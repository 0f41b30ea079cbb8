"""The quarantine: feed payloads that were refused, kept byte for byte with the reason.

A JetStream stream of its own (never the event store): a held payload lives on the subject
``quarantine.held.<source>.<content hash>``, published with an expected last subject sequence of
0, so the same bad payload is held once however often a feed re-sends it, even after the
duplicate window. Retries record their outcome on ``quarantine.resolved.<held seq>``. Nothing is
ever deleted: the stream denies delete and purge.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js.errors import NotFoundError

from commands.intake import RefusedPayload
from infra.feeds.once import AppendOnlyStore, publish_once

STREAM = "SPORTCAST_QUARANTINE"
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")

H_REASON_CODE = "Sportcast-Reason-Code"
H_REASON = "Sportcast-Reason"
H_SOURCE = "Sportcast-Source"
H_KIND = "Sportcast-Kind"
H_ORIGIN = "Sportcast-Origin"
H_KEY = "Sportcast-Key"
H_RECEIVED_AT = "Sportcast-Received-At"
H_OUTCOME = "Sportcast-Outcome"


@dataclass(frozen=True, kw_only=True)
class HeldPayload:
    seq: int
    source: str
    kind: str
    reason_code: str
    reason: str
    origin: str
    key: str
    received_at: str
    raw: bytes
    resolution: str | None = None  # outcome of the latest retry, if any


def _token(value: str) -> str:
    return _TOKEN.sub("_", value) or "_"


class Quarantine(AppendOnlyStore):
    default_stream = STREAM
    default_prefix = "quarantine"

    async def hold(self, refused: RefusedPayload) -> int:
        """Keep the refused payload with its reason; return its sequence (the existing one if
        already held). Its ``key`` tells apart several refused messages made from the same raw
        bytes (one dataset row gives opening and closing odds)."""
        digest = hashlib.sha256(refused.key.encode() + b"\x00" + refused.raw).hexdigest()[:40]
        subject = f"{self.prefix}.held.{_token(refused.source)}.{digest}"
        headers = {
            H_REASON_CODE: refused.reason_code,
            H_REASON: refused.reason[:4000],
            H_SOURCE: refused.source,
            H_KIND: refused.kind,
            H_ORIGIN: refused.origin,
            H_KEY: refused.key,
            H_RECEIVED_AT: datetime.now(UTC).isoformat(),
        }
        return await publish_once(self.js, self.stream, subject, refused.raw, headers)

    async def show(self, seq: int) -> HeldPayload:
        msg = await self.js.get_msg(self.stream, seq)
        if msg.subject is None or not msg.subject.startswith(f"{self.prefix}.held."):
            raise LookupError(f"quarantine entry {seq} does not exist")
        resolution = None
        try:
            resolved = await self.js.get_last_msg(self.stream, f"{self.prefix}.resolved.{seq}")
            resolution = (resolved.headers or {}).get(H_OUTCOME)
        except NotFoundError:
            pass
        h = msg.headers or {}
        return HeldPayload(
            seq=seq,
            source=h.get(H_SOURCE, ""),
            kind=h.get(H_KIND, ""),
            reason_code=h.get(H_REASON_CODE, ""),
            reason=h.get(H_REASON, ""),
            origin=h.get(H_ORIGIN, ""),
            key=h.get(H_KEY, ""),
            received_at=h.get(H_RECEIVED_AT, ""),
            raw=msg.data or b"",
            resolution=resolution,
        )

    async def list(self, *, source: str | None = None, limit: int = 1000) -> list[HeldPayload]:
        """Held payloads in arrival order (oldest first), with their latest retry outcome."""
        held = f"{self.prefix}.held"
        subject = f"{held}.{_token(source)}.*" if source else f"{held}.>"
        seqs: list[int] = []
        sub = await self.js.subscribe(subject, ordered_consumer=True)
        try:
            while len(seqs) < limit:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    break
                seqs.append(msg.metadata.sequence.stream)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return [await self.show(seq) for seq in seqs]

    async def count(self, *, source: str | None = None) -> int:
        """How many payloads are held (of `source`), however many `list` was asked for."""
        held = f"{self.prefix}.held"
        subject = f"{held}.{_token(source)}.*" if source else f"{held}.>"
        info = await self.js.stream_info(self.stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())

    async def resolve(self, seq: int, outcome: str) -> None:
        """Record the outcome of a retry (the payload itself stays held for the record)."""
        await self.js.publish(f"{self.prefix}.resolved.{seq}", b"", headers={H_OUTCOME: outcome})
