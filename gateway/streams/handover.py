"""The server's offer to hand a stream's connection over, once its response head is written.

An open stream only writes; the HTTP server's machinery kept per connection for hours (parser,
request-response cycle and its events, scope, the request's task) was most of the memory of an
idle stream (issue 15: at most 10 KB per idle connection; docs/adr/0036). A server that offers
the ASGI extension ``sportcast.handover`` (``infra.http_handover`` for uvicorn) gives the
stream its transport: the ``Subscriber`` becomes the transport's protocol, writes the chunked
body itself and learns of the client leaving from ``connection_lost``. Without the extension
(another server, a test client) the stream stays on the ASGI ``send``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.types import Scope

HANDOVER = "sportcast.handover"


class Take(Protocol):
    def __call__(self, protocol: asyncio.Protocol) -> asyncio.Transport | None:
        """The connection's transport, with ``protocol`` as its protocol from now on (which
        also has ``shutdown()``, for the server's graceful shutdown); None: not handed over."""
        ...


def offered(scope: Scope) -> Take | None:
    """The server's ``take`` (None: it offers no hand-over)."""
    extension = (scope.get("extensions") or {}).get(HANDOVER)
    take: Take | None = None if extension is None else extension.get("take")
    return take


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (RFC 9112 §7.1)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
