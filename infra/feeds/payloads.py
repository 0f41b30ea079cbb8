"""Raw feed payloads as received, addressed by content hash: what ``Provenance.payload_ref``
points at. Kept once per distinct payload, never deleted."""

from __future__ import annotations

import hashlib

from infra.feeds.once import AppendOnlyStore, publish_once

STREAM = "SPORTCAST_PAYLOADS"


class PayloadStore(AppendOnlyStore):
    default_stream = STREAM
    default_prefix = "payloads"

    async def keep(self, raw: bytes) -> str:
        digest = hashlib.sha256(raw).hexdigest()
        await publish_once(self.js, self.stream, f"{self.prefix}.{digest}", raw, {})
        return f"sha256:{digest}"

    async def fetch(self, ref: str) -> bytes:
        digest = ref.removeprefix("sha256:")
        msg = await self.js.get_last_msg(self.stream, f"{self.prefix}.{digest}")
        return msg.data or b""
