"""Raw feed payloads as received, addressed by content hash: what ``Provenance.payload_ref``
points at. Kept once per distinct payload, never deleted."""

from __future__ import annotations

import hashlib

from nats.js import JetStreamContext

from infra.feeds.once import ensure_append_only_stream, publish_once

STREAM = "SPORTCAST_PAYLOADS"


class PayloadStore:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str = STREAM,
        prefix: str = "payloads",
        replicas: int = 1,
    ) -> None:
        self.js, self.stream, self.prefix, self.replicas = js, stream, prefix, replicas

    async def ensure_stream(self) -> None:
        await ensure_append_only_stream(
            self.js, name=self.stream, subjects=[f"{self.prefix}.>"], replicas=self.replicas
        )

    async def keep(self, raw: bytes) -> str:
        digest = hashlib.sha256(raw).hexdigest()
        await publish_once(self.js, self.stream, f"{self.prefix}.{digest}", raw, {})
        return f"sha256:{digest}"

    async def fetch(self, ref: str) -> bytes:
        digest = ref.removeprefix("sha256:")
        msg = await self.js.get_last_msg(self.stream, f"{self.prefix}.{digest}")
        return msg.data or b""
