"""The ASGI response that runs one subscription: resume, then frames as they come.

Not sse-starlette's EventSourceResponse: that runs four tasks per connection (stream, ping,
exit watcher, disconnect listener) and a cancel scope around each send, the costs READSIDE
measured. Here a connection is its own request coroutine, which after the resume only waits
for the client to leave: the hub writes the shared frame bytes to the connection as it fans
them out (``Subscriber``), heartbeats and shutdown come from the hub (one timer per process),
and a task per connection exists only while a write waits for the client or a resume reads
history (docs/adr/0011, 0030). Where the server offers it (``gateway.streams.handover``), the
connection is handed over once the response head is written: the subscriber is then the
transport's protocol and the request's coroutine ends once the stream has joined the hub, so
an idle stream is its transport and its ``Subscriber`` (docs/adr/0036).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import urlencode

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.streams.cursor import MalformedCursor, parse
from gateway.streams.endpoints import Endpoint
from gateway.streams.filters import Entitlement, Filter
from gateway.streams.handover import offered
from gateway.streams.hub import Hub
from gateway.streams.subscriber import GONE, SHUTDOWN, UNAVAILABLE, Subscriber

log = logging.getLogger("sportcast.streams")

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # proxies must not hold frames back
]
HANDED_OVER_HEADERS = [*HEADERS, (b"connection", b"close")]
"""A handed-over connection serves no further request: it closes when its stream ends."""

RESET_DETAIL = {
    "malformed": "the Last-Event-ID is not an id of this stream",
    "ahead-of-log": "the Last-Event-ID is ahead of the log",
    "too-old": "the Last-Event-ID is older than what can be replayed",
}


def reload_url(endpoint: Endpoint, flt: Filter) -> str:
    query = [("sport", s) for s in sorted(flt.sports)]
    query += [("competition", c) for c in sorted(flt.competitions)]
    return endpoint.reload + ("?" + urlencode(query) if query else "")


def reset_frame(event_id: str, reason: str, reload: str) -> bytes:
    data = orjson.dumps({"reason": reason, "detail": RESET_DETAIL[reason], "reload": reload})
    return b"id: " + event_id.encode() + b"\nevent: reset\ndata: " + data + b"\n\n"


class StreamResponse(Response):
    def __init__(
        self,
        hub: Hub,
        endpoint: Endpoint,
        flt: Filter,
        entitlement: Entitlement | None,
        last_event_id: str | None,
        recent: int = 0,
        *,
        release: Callable[[], None] | None = None,
        hand_over: bool = False,
    ) -> None:
        """``release`` gives the caller's connection back when the stream is over;
        ``hand_over``: take the connection from the server if it offers it (only where nothing
        between the server and this response wraps ``send``)."""
        self.hub = hub
        self.endpoint = endpoint
        self.flt = flt
        self.entitlement = entitlement
        self.last_event_id = last_event_id
        self.recent = recent
        self.release = release
        self.hand_over = hand_over
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        take = offered(scope) if self.hand_over else None
        headers = HEADERS if take is None else HANDED_OVER_HEADERS
        sub = Subscriber(
            endpoint=self.endpoint.name,
            logs=self.endpoint.logs,
            flt=self.flt,
            entitlement=self.entitlement,
            limit=hub.settings.client_buffer_bytes,
        )
        sub.hub = hub
        sub.release = self.release
        handed = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            transport = None if take is None else take(sub)
            if transport is None:
                sub.task = asyncio.current_task()
                sub.attach(send)
            else:
                sub.attach_transport(transport)
            if hub.closed:
                sub.end(SHUTDOWN, hub.shutdown_notice())
            else:
                try:
                    await self._open(sub, receive)
                except Exception:  # the upstream did not answer: the client retries later
                    log.exception("opening a stream failed")
                    sub.end(UNAVAILABLE, hub.unavailable_notice())
            if transport is not None:
                # The connection is the subscriber's now: its end (connection_lost) finishes
                # the stream, and nothing of the request stays behind.
                handed = not sub.lost
                return
            # From here the hub writes (no task wakes per frame); this coroutine only waits
            # for the client to leave, or for the response the hub ended to be complete.
            while not (sub.closing and sub.reason == GONE):
                if (await receive())["type"] == "http.disconnect":
                    break
        finally:
            sub.serving = False
            if not handed:
                sub.end(GONE)
                sub.finish()

    async def _open(self, sub: Subscriber, receive: Receive) -> None:
        hub, endpoint = self.hub, self.endpoint
        if self.last_event_id is None:
            recent = hub.recent_position(sub, endpoint, self.recent) if self.recent else None
            hub.join(sub, endpoint, recent)  # no await since the position: exact from there
            return
        try:
            position = parse(self.last_event_id, endpoint.logs)
        except MalformedCursor:
            reason: str | None = "malformed"
        else:
            reason = await hub.reset_reason(endpoint, position)
        if reason is not None:
            hub.metrics.reset(endpoint.name, reason)
            sub.push(reset_frame(hub.head_id(endpoint), reason, reload_url(endpoint, self.flt)))
            hub.join(sub, endpoint, None)  # no await since the id above: exact from here
            return
        if hub.must_catch_up(endpoint, position):
            # Sent in pieces at the client's pace; meanwhile (on ASGI) a task notices a client
            # leaving (a handed-over connection tells the subscriber itself).
            watcher = None
            if sub.transport is None:
                watcher = asyncio.ensure_future(_watch_disconnect(receive, sub))
            try:
                await hub.catch_up(sub, endpoint, position, sub.write_piece)
            finally:
                if watcher is not None:
                    watcher.cancel()
        hub.join(sub, endpoint, position)


async def _watch_disconnect(receive: Receive, sub: Subscriber) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                sub.end(GONE)
                return
