"""uvicorn's httptools protocol, able to hand a connection over to the application.

A server-sent events stream lives for hours and, after its response head, only writes. For as
long as it lives, uvicorn keeps its HTTP machinery per connection: the httptools parser, the
request-response cycle with its ``asyncio.Event``, the flow control's Event, the pipeline
deque, the scope and its headers, and the request's task and coroutine. At 10,000 idle streams
that was most of the gateway's memory per connection (issue 15's target is 10 KB; docs/adr/0036).

This protocol offers the ASGI extension ``sportcast.handover`` (``scope["extensions"]``, the
ASGI way for a server to offer more than the spec): ``take(protocol)``, called by the
application once its ``http.response.start`` is sent, returns the connection's transport and
makes ``protocol`` the transport's protocol from then on. uvicorn forgets the request (its task
ends when the application returns, the parser and the cycle are dropped) but still holds the
connection for its graceful shutdown: it calls the protocol's ``shutdown()`` and waits for the
connection to close, as for its own. The body is the taker's to write, in chunked framing
(the head said ``transfer-encoding: chunked``), and so is closing the connection. ``take``
returns None (the application stays on ASGI) when the connection is not in a state to be
handed over: a pipelined request behind this one, a response not started, completed or not
chunked, a closing transport.

Applications without the extension (another server, uvicorn's other protocols, tests through
ASGI) see no difference; the gateway's streams fall back to the ASGI ``send``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HANDOVER = "sportcast.handover"
"""The extension's name (``gateway.streams.handover`` uses the same)."""


class TakerProtocol(Protocol):
    """What the taker's protocol does besides asyncio's: end its stream for a server
    shutting down."""

    def connection_lost(self, exc: Exception | None) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> bool | None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...

    def shutdown(self) -> None: ...


class HandedOver(asyncio.Protocol):
    """The taker's protocol as uvicorn's connection set sees it: it leaves the set when the
    connection is lost, so that uvicorn's graceful shutdown waits for it like for its own."""

    __slots__ = ("_connections", "_inner")

    def __init__(self, inner: TakerProtocol, connections: set[Any]) -> None:
        self._inner = inner
        self._connections = connections

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown."""
        self._inner.shutdown()


class HandoverHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``--http httptools`` with the ``sportcast.handover`` extension."""

    _extensions: dict[str, dict[object, object]] | None = None

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._extensions is None:  # one per connection, shared by its requests
            self._extensions = {HANDOVER: {"take": self._take}}
        self.scope["extensions"] = self._extensions

    def _take(self, protocol: TakerProtocol) -> asyncio.Transport | None:
        cycle = self.cycle
        transport = self.transport
        if (
            cycle is None
            or self.pipeline
            or not cycle.response_started
            or cycle.response_complete
            or cycle.disconnected
            or not cycle.chunked_encoding
            or transport.is_closing()
        ):
            return None
        # uvicorn is done with the request: run_asgi ends quietly when the application returns,
        # and nothing more is read as HTTP on this connection.
        cycle.response_complete = True
        cycle.keep_alive = False
        self._unset_keepalive_if_required()
        connections: set[Any] = self.connections  # uvicorn's graceful shutdown waits for these
        handed = HandedOver(protocol, connections)
        connections.discard(self)
        connections.add(handed)
        paused = self.flow.write_paused
        transport.set_protocol(handed)
        if paused:
            handed.pause_writing()
        if not transport.is_reading():  # reading notices the client leaving
            transport.resume_reading()
        self.parser = None  # type: ignore[assignment]  # as uvicorn does on connection_lost
        self.cycle = None  # type: ignore[assignment]
        self._extensions = None
        return transport
