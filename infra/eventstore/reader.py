"""Reads through JetStream Direct Get: one request streams back a batch of stored messages.

One wildcard inbox subscription serves every request, so a read costs no SUB/UNSUB round trip.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from infra.eventstore.records import RawRecord, raw_record
from infra.eventstore.wire import DirectGetFailed

STATUS = "Status"
_NO_RESULTS = "404"
MAX_BATCH = 1000


ReadFailed = DirectGetFailed  # one error class for both read paths (nats-py and wire.py)


@dataclass
class _Pending:
    done: asyncio.Future[None]
    single: bool
    records: list[RawRecord] = field(default_factory=list)


class DirectReader:
    def __init__(self, nc: NATS, stream: str) -> None:
        self._nc = nc
        self._api = f"$JS.API.DIRECT.GET.{stream}"
        self._inbox = nc.new_inbox()
        self._ids = itertools.count()
        self._pending: dict[str, _Pending] = {}
        self._sub: Subscription | None = None

    @property
    def nc(self) -> NATS:
        return self._nc

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_msg)

    async def stop(self) -> None:
        """Unsubscribe (the connection is the process's shared one and lives on)."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        pending = self._pending.get(msg.subject[len(self._inbox) + 1 :])
        if pending is None or pending.done.done():
            return
        headers = msg.headers
        if headers is not None and STATUS in headers and not msg.data:
            status = headers[STATUS]
            if status in ("204", _NO_RESULTS):  # end of batch / nothing matched
                pending.done.set_result(None)
            else:
                pending.done.set_exception(ReadFailed(status, headers.get("Description", "")))
            return
        pending.records.append(raw_record(msg))
        if pending.single:
            pending.done.set_result(None)

    async def batch(
        self,
        *,
        subject: str,
        start_seq: int,
        limit: int,
        up_to_seq: int | None = None,
        wait: float = 10.0,
    ) -> list[RawRecord]:
        """Stored messages matching ``subject`` with sequence >= start_seq, in stream order."""
        out: list[RawRecord] = []
        seq = max(start_seq, 1)
        while len(out) < limit:
            size = min(limit - len(out), MAX_BATCH)
            request: dict[str, Any] = {"seq": seq, "next_by_subj": subject, "batch": size}
            if up_to_seq is not None:
                if seq > up_to_seq:
                    break
                request["up_to_seq"] = up_to_seq
            got = await self._request(request, wait, single=False)
            full = len(got) == size
            if up_to_seq is not None and got and got[-1].seq > up_to_seq:
                got = [r for r in got if r.seq <= up_to_seq]  # servers that ignore up_to_seq
                full = False
            out.extend(got)
            if not full:
                break
            seq = got[-1].seq + 1
        return out

    async def last(self, subject: str, *, wait: float = 5.0) -> RawRecord | None:
        got = await self._request({"last_by_subj": subject}, wait, single=True)
        return got[0] if got else None

    async def next_after(self, subject: str, seq: int, *, wait: float = 5.0) -> RawRecord | None:
        request = {"seq": seq + 1, "next_by_subj": subject}
        got = await self._request(request, wait, single=True)
        return got[0] if got else None

    async def _request(
        self, request: dict[str, Any], wait: float, *, single: bool
    ) -> list[RawRecord]:
        token = str(next(self._ids))
        pending = _Pending(asyncio.get_running_loop().create_future(), single)
        self._pending[token] = pending
        try:
            await self._nc.publish(
                self._api, json.dumps(request).encode(), reply=f"{self._inbox}.{token}"
            )
            await asyncio.wait_for(pending.done, wait)
            return pending.records
        finally:
            del self._pending[token]
