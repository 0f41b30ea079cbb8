"""Bulk reads over a minimal NATS protocol client: blocking sockets, a tight ``HMSG`` parser.

nats-py spends ~60-100 us of Python per delivered message (parser, ``Msg``, header dict,
subscription queue, callback task), which caps a replay near 10,000 events/s. A Direct Get
batch needs none of that: one ``PUB`` of the request, then a run of ``HMSG`` frames to one
inbox ending with a status frame (``NATS/1.0 204 EOB``, or ``404`` when nothing matched;
ADR-31). This module speaks just enough of the protocol for that - ``CONNECT`` with
``headers: true``, one ``SUB``, ``PUB``, answering ``PING`` - on plain sockets used directly
by the calling thread (no hop to the asyncio loop), and pools the connections.

Long reads go through an ephemeral pull consumer instead (:meth:`WireClient.consume`): the
server spends about a quarter of a Direct Get's time per message on a consumer's delivery
(measured 4 vs 15 us), which outweighs the consumer's creation (~1 ms) from a few hundred
messages on.

Reads only: writes go through wire_publish.py (or nats-py), on the event store's loop.
TLS and credentials are those of :class:`~infra.eventstore.security.NatsSecurity`, as for
nats-py: the socket is wrapped after the server's ``INFO`` (as the protocol has it) and the
``CONNECT`` carries user/password, token, or an NKey signature of the server's nonce (with the
user JWT of a ``.creds`` file). What it cannot speak (websockets, a server without headers)
raises :class:`WireUnsupported` and the caller keeps using nats-py.

Each message (header block bytes, payload bytes) goes through a caller's ``convert`` as it
arrives; wire_protocol.py decodes header blocks exactly as nats-py 2.16 does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from infra.eventstore.denials import Denials
from infra.eventstore.security import NatsSecurity
from infra.eventstore.wire_protocol import (
    CRLF,
    STATUS_LINE,
    DirectGetFailed,
    Endpoint,
    WireError,
    WireUnsupported,
    connect_command,
    header_value,
    needs_tls,
    parse_headers,
    parse_urls,
)
from infra.eventstore.wire_tls import BufferedTls

__all__ = [
    "Consumed",
    "ConvertConsumed",
    "DirectGetFailed",
    "Endpoint",
    "Frame",
    "Reply",
    "WireClient",
    "WireError",
    "WireUnsupported",
    "as_frame",
    "connect_command",
    "header_value",
    "parse_headers",
    "parse_urls",
]
_RECV = 1 << 16  # below malloc's mmap threshold: a 256 KiB recv buffer costs ~20 us a call
_IDLE_SECONDS = 30.0  # a pooled connection idle longer is replaced (server pings every 2 min)
_POOL = 32  # idle connections kept: one per concurrently reading thread
_CONSUME_BATCH = 10_000  # messages asked of a consumer per pull request

# One C call per delivered message for its whole line (then: is it our consumer's?):
# HMSG <subject> 1 $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>
#   .<pending> <header size> <total size>
# Only single-byte negations and [0-9] (sre's tightest loops): a class such as \S or [^.\s]
# costs several times more per byte (~2.5 against ~1.1 us a line here). On the server's lines
# they read the same: a subject or a token holds no space, a token no dot.
_DELIVERY = re.compile(
    rb"HMSG ([^ ]+) 1 \$JS\.ACK\.([^.]+\.[^.]+)\.[0-9]+\.([0-9]+)\.[0-9]+\.[0-9]+\.([0-9]+)"
    rb" ([0-9]+) ([0-9]+)\r\n"
)

Frame = tuple[bytes, bytes]  # (header block incl. "NATS/1.0\r\n" and the final blank line, data)
T = TypeVar("T")
R = TypeVar("R")


def as_frame(header: bytes, data: bytes) -> Frame:
    return header, data


# What a consumer read hands ``convert``: (subject, stream sequence, header block, payload).
ConvertConsumed = Callable[[bytes, int, bytes, bytes], T | None]


@dataclass(slots=True)
class Consumed(Generic[T]):
    items: list[T]  # what ``convert`` made of each message (None results left out)
    messages: int  # how many messages arrived
    last_seq: int  # stream sequence of the last one (0 if none)
    last_header: bytes  # its header block (b"" if none)


@dataclass(slots=True)
class Reply(Generic[T]):
    items: list[T]  # what ``convert`` made of each message (None results left out)
    messages: int  # how many messages arrived
    last_header: bytes  # header block of the last message (b"" if none)
    status: bytes = b""  # b"" (single message), b"204" (end of batch), b"404" (nothing matched)
    num_pending: int | None = None  # from the end-of-batch frame: matching messages not sent


class _Connection:
    # Requests whose answers nobody waits for (consumer deletes), sent with the next request
    # on this connection instead of in a send of their own: on a busy machine every send can
    # hand the CPU to the server and cost this thread milliseconds.
    unsent = b""

    def __init__(
        self, endpoint: Endpoint, *, name: str, timeout: float, security: NatsSecurity
    ) -> None:
        self.sock: socket.socket | BufferedTls = socket.create_connection(
            (endpoint.host, endpoint.port), timeout=timeout
        )
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
            self.pos = 0
            self.inbox = f"_INBOX.wire{secrets.token_hex(12)}".encode()
            self.ids = itertools.count(1)
            self.last_used = time.monotonic()
            deadline = time.monotonic() + timeout
            line = self._line(deadline)
            if not line.startswith(b"INFO "):
                raise WireError(f"expected INFO, got {line[:40]!r}")
            info = json.loads(line[5:])
            if needs_tls(endpoint, info, security):
                self.sock = _start_tls(self.sock, endpoint, security, deadline)
                self.buf, self.pos = b"", 0  # the server says nothing more before the handshake
            self.sock.sendall(
                connect_command(endpoint, info, name=name, security=security)
                + b"SUB "
                + self.inbox
                + b".* 1\r\nPING\r\n"
            )
            while True:
                line = self._line(deadline)
                if line == b"PONG":
                    break
                if line.startswith(b"-ERR"):
                    raise WireError(line.decode(errors="replace"))
                if line == b"PING":
                    self.sock.sendall(b"PONG\r\n")
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.unsent:
                self.sock.settimeout(0.5)
                self.sock.sendall(self.unsent)
            self.sock.close()

    def _send(self, data: bytes) -> None:
        if self.unsent:
            data, self.unsent = self.unsent + data, b""
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from NATS in time")
        self.sock.settimeout(left)
        chunk = self.sock.recv(_RECV)
        if not chunk:
            raise ConnectionResetError("NATS closed the connection")
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0

    def _line(self, deadline: float) -> bytes:
        while True:
            nl = self.buf.find(CRLF, self.pos)
            if nl >= 0:
                line = self.buf[self.pos : nl]
                self.pos = nl + 2
                return line
            self._fill(deadline)

    def request(
        self,
        api: bytes,
        payload: bytes,
        convert: Callable[[bytes, bytes], T | None],
        *,
        wait: float,
        single: bool,
    ) -> Reply[T]:
        """Send one Direct Get request; convert messages as they arrive, until the batch ends.

        Converting inside the receive loop overlaps it with the server's sending: a batch is
        bounded by the server (~10 us a message), not by this thread.
        """
        reply_to = self.inbox + b".%d" % next(self.ids)
        self._send(b"PUB %s %s %d\r\n%s\r\n" % (api, reply_to, len(payload), payload))
        deadline = time.monotonic() + wait
        items: list[T] = []
        append = items.append
        messages = 0
        last = b""
        ours = b"HMSG " + reply_to + b" 1 "  # every frame of the answer starts so (SUB sid 1)
        skip = len(ours)
        buf, pos = self.buf, self.pos
        try:
            while True:
                nl = buf.find(CRLF, pos)
                if nl < 0:
                    self.buf, self.pos = buf, pos
                    self._fill(deadline)
                    buf, pos = self.buf, self.pos
                    continue
                ours_frame = buf.startswith(ours, pos)
                if ours_frame or buf.startswith(b"HMSG ", pos):
                    start = nl + 2
                    if ours_frame:
                        sp = buf.find(b" ", pos + skip, nl)
                        split = start + int(buf[pos + skip : sp])
                        end = start + int(buf[sp + 1 : nl])
                    else:  # a reply to an earlier request: skip it
                        split = end = start + int(buf[pos + 5 : nl].split()[-1])
                    if end + 2 > len(buf):  # the frame is not all here yet
                        self.buf, self.pos = buf, pos
                        self._fill(deadline)
                        buf, pos = self.buf, self.pos
                        continue
                    pos = end + 2
                    if not ours_frame:
                        continue
                    if buf.startswith(STATUS_LINE, start):
                        status = buf[start + 9 : start + 12]
                        header = buf[start:split]
                        if status in (b"204", b"404"):
                            pending = header_value(header, b"Nats-Num-Pending")
                            count = None if pending is None else int(pending)
                            return Reply(items, messages, last, status, count)
                        hdr = parse_headers(header)
                        raise DirectGetFailed(status.decode(), hdr.get("Description", ""))
                    last = buf[start:split]
                    item = convert(last, buf[split:end])
                    if item is not None:
                        append(item)
                    messages += 1
                    if single:
                        return Reply(items, messages, last)
                    continue
                line = buf[pos:nl]
                pos = nl + 2
                if line == b"PING":
                    self.sock.sendall(b"PONG\r\n")
                elif line.startswith(b"MSG "):  # a frame without headers: skip its payload
                    size = int(line.split()[-1])
                    while pos + size + 2 > len(buf):
                        self.buf, self.pos = buf, pos
                        self._fill(deadline)
                        buf, pos = self.buf, self.pos
                    pos += size + 2
                elif line.startswith(b"-ERR"):
                    raise WireError(line.decode(errors="replace"))
                # INFO updates, PONG and +OK need nothing
        finally:
            self.buf, self.pos = buf, pos
            self.last_used = time.monotonic()

    def consume(
        self,
        stream: str,
        config: dict[str, Any],
        convert: ConvertConsumed[T],
        *,
        limit: int,
        wait: float,
        name: str = "",
    ) -> Consumed[T]:
        """Up to ``limit`` stored messages through an ephemeral pull consumer (AckNone, in
        memory), created for this read and deleted after it; in stream order."""
        deadline = time.monotonic() + wait
        name = name or f"sc{secrets.token_hex(8)}"
        body = json.dumps({"stream_name": stream, "config": {"name": name, **config}})
        answer = self._ask(f"$JS.API.CONSUMER.CREATE.{stream}.{name}".encode(), body, deadline)
        error = json.loads(answer).get("error")
        if error is not None:
            raise DirectGetFailed(str(error.get("code", "")), str(error.get("description", "")))
        try:
            return self._fetch(stream, name, convert, limit=limit, deadline=deadline)
        finally:
            # Sent with the next request (or on close) and not waited for: its answer is
            # skipped later. An idle pull consumer delivers nothing meanwhile, and
            # inactive_threshold removes it if this connection is never used again.
            api = f"$JS.API.CONSUMER.DELETE.{stream}.{name}".encode()
            reply_to = self.inbox + b".%d" % next(self.ids)
            self.unsent += b"PUB %s %s 0\r\n\r\n" % (api, reply_to)

    def _ask(self, api: bytes, body: str, deadline: float) -> bytes:
        """Send one request and return the payload of its (header-less) answer."""
        reply_to = self.inbox + b".%d" % next(self.ids)
        payload = body.encode()
        self._send(b"PUB %s %s %d\r\n%s\r\n" % (api, reply_to, len(payload), payload))
        while True:
            line = self._line(deadline)
            if line.startswith((b"MSG ", b"HMSG ")):
                parts = line.split()
                size = int(parts[-1])
                while self.pos + size + 2 > len(self.buf):
                    self._fill(deadline)
                data = self.buf[self.pos : self.pos + size]
                self.pos += size + 2
                if parts[1] == reply_to:
                    if line.startswith(b"HMSG "):  # a status: no responders, ...
                        header = data[: int(parts[-2])]
                        raise DirectGetFailed(header[9:12].decode(), header[13:].decode().strip())
                    return data
            elif line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise WireError(line.decode(errors="replace"))

    def _fetch(
        self, stream: str, name: str, convert: ConvertConsumed[T], *, limit: int, deadline: float
    ) -> Consumed[T]:
        items: list[T] = []
        append = items.append
        messages = last_seq = 0
        last = last_pending = b""
        delivery = _DELIVERY.match
        ours = b"%s.%s" % (stream.encode(), name.encode())
        api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}".encode()
        buf, pos = self.buf, self.pos
        try:
            while messages < limit:
                ask = min(limit - messages, _CONSUME_BATCH)
                reply_to = self.inbox + b".%d" % next(self.ids)
                request = b'{"batch":%d,"no_wait":true}' % ask
                self._send(b"PUB %s %s %d\r\n%s\r\n" % (api, reply_to, len(request), request))
                got = 0
                status = b""
                while got < ask and not status:
                    m = delivery(buf, pos)
                    if m is not None and m[2] == ours:  # the hot path: one of our messages
                        subject, _, seq, pending, header_size, total = m.groups()
                        start = m.end()
                        end = start + int(total)
                        if end + 2 > len(buf):  # not all here yet
                            self.buf, self.pos = buf, pos
                            self._fill(deadline)
                            buf, pos = self.buf, self.pos
                            continue
                        split = start + int(header_size)
                        pos = end + 2
                        last_seq = int(seq)
                        last_pending = pending
                        last = buf[start:split]
                        item = convert(subject, last_seq, last, buf[split:end])
                        if item is not None:
                            append(item)
                        got += 1
                        continue
                    nl = buf.find(CRLF, pos)
                    if nl < 0:
                        self.buf, self.pos = buf, pos
                        self._fill(deadline)
                        buf, pos = self.buf, self.pos
                        continue
                    if buf.startswith(b"HMSG ", pos):
                        # HMSG <subject> <sid> [<reply>] <header size> <total size>
                        parts = buf[pos + 5 : nl].split(b" ")
                        start = nl + 2
                        split = start + int(parts[-2])
                        end = start + int(parts[-1])
                        if end + 2 > len(buf):
                            self.buf, self.pos = buf, pos
                            self._fill(deadline)
                            buf, pos = self.buf, self.pos
                            continue
                        pos = end + 2
                        if len(parts) == 5 and parts[2].startswith(b"$JS.ACK."):
                            # Not a form _DELIVERY reads (e.g. with domain and account tokens)
                            # or not our consumer's: the caller goes on by Direct Get.
                            raise WireUnsupported(f"acknowledgement subject {parts[2]!r}")
                        if parts[0] == reply_to and buf.startswith(STATUS_LINE, start):
                            status = buf[start + 9 : start + 12]
                            if status not in (b"404", b"408"):  # no (more) messages
                                header = parse_headers(buf[start:split])
                                raise DirectGetFailed(
                                    status.decode(), header.get("Description", "")
                                )
                        continue
                    line = buf[pos:nl]
                    pos = nl + 2
                    if line.startswith(b"MSG "):  # an answer to an earlier request: skip it
                        size = int(line.split()[-1])
                        while pos + size + 2 > len(buf):
                            self.buf, self.pos = buf, pos
                            self._fill(deadline)
                            buf, pos = self.buf, self.pos
                        pos += size + 2
                    elif line == b"PING":
                        self.sock.sendall(b"PONG\r\n")
                    elif line.startswith(b"-ERR"):
                        raise WireError(line.decode(errors="replace"))
                messages += got
                if status or not got or not int(last_pending):
                    break  # the end, or nothing pending after the last message
        finally:
            self.buf, self.pos = buf, pos
            self.last_used = time.monotonic()
        return Consumed(items, messages, last_seq, last)


def _start_tls(
    sock: socket.socket, endpoint: Endpoint, security: NatsSecurity, deadline: float
) -> BufferedTls:
    try:
        return BufferedTls(
            sock, security.ssl_context(), server_hostname=endpoint.host, deadline=deadline
        )
    except ssl.SSLError as exc:
        where = f"{endpoint.host}:{endpoint.port}"
        raise WireError(f"TLS handshake with {where} failed: {exc}") from exc


class WireClient:
    """A pool of minimal NATS connections for Direct Get reads of one stream.

    Thread-safe: each call takes an idle connection (or opens one) and gives it back after a
    clean exchange; a connection that saw any error is closed instead.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        *,
        security: NatsSecurity | None = None,
        denials: Denials | None = None,
        name: str = "sportcast-eventstore-reads",
    ) -> None:
        self.denials = denials or Denials()
        self._endpoints = parse_urls(url)
        self._security = security or NatsSecurity()
        self._stream = stream
        self._api = f"$JS.API.DIRECT.GET.{stream}".encode()
        self._name = name
        self._idle: deque[_Connection] = deque()
        self._next = secrets.randbelow(len(self._endpoints))
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self,
        request: dict[str, Any],
        convert: Callable[[bytes, bytes], T | None],
        *,
        wait: float,
        single: bool = False,
    ) -> Reply[T]:
        payload = json.dumps(request, separators=(",", ":")).encode()
        return self._on_a_connection(
            wait, lambda conn: conn.request(self._api, payload, convert, wait=wait, single=single)
        )

    def consume(
        self,
        config: dict[str, Any],
        convert: ConvertConsumed[T],
        *,
        limit: int,
        wait: float,
    ) -> Consumed[T]:
        """Up to ``limit`` messages through an ephemeral consumer with ``config`` (see
        :meth:`_Connection.consume`)."""
        return self._on_a_connection(
            wait, lambda conn: conn.consume(self._stream, config, convert, limit=limit, wait=wait)
        )

    def _on_a_connection(self, wait: float, use: Callable[[_Connection], R]) -> R:
        """``use`` a pooled (or new) connection, given back afterwards; closed on any failure,
        since what is left unread on it is unknown."""
        for attempt in range(2):
            conn, reused = self._take(wait)
            try:
                result = use(conn)
            except ConnectionError as exc:
                conn.close()
                if attempt == 0 and reused:
                    continue  # a pooled connection the server dropped: once more, on a new one
                raise WireError(f"connection lost: {exc}") from exc
            except WireError as exc:
                self.denials.note(exc)  # a read outside this user's permissions: said once
                conn.close()
                raise
            except BaseException:
                conn.close()
                raise
            self._give_back(conn)
            return result
        raise AssertionError("unreachable")

    def _take(self, wait: float) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                break
            if now - conn.last_used < _IDLE_SECONDS:
                return conn, True
            conn.close()
        return self._connect(wait), False

    def _connect(self, wait: float) -> _Connection:
        errors: list[str] = []
        with self._lock:
            first = self._next
            self._next = (self._next + 1) % len(self._endpoints)
        for i in range(len(self._endpoints)):
            endpoint = self._endpoints[(first + i) % len(self._endpoints)]
            try:
                return _Connection(
                    endpoint, name=self._name, timeout=min(wait, 5.0), security=self._security
                )
            except OSError as exc:  # refused, unreachable, timed out: the next server
                errors.append(f"{endpoint.host}:{endpoint.port} {exc}")
        raise WireError("cannot reach any NATS server: " + "; ".join(errors))

    def _give_back(self, conn: _Connection) -> None:
        if self._closed or len(self._idle) >= _POOL:
            conn.close()
        else:
            self._idle.append(conn)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
