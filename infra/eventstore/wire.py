"""Bulk reads over a minimal NATS protocol client: blocking sockets, a tight ``HMSG`` parser.

nats-py spends ~60-100 us of Python per delivered message (parser, ``Msg``, header dict,
subscription queue, callback task), which caps a replay near 10,000 events/s. A Direct Get
batch needs none of that: one ``PUB`` of the request, then a run of ``HMSG`` frames to one
inbox ending with a status frame (``NATS/1.0 204 EOB``, or ``404`` when nothing matched;
ADR-31). This module speaks just enough of the protocol for that - ``CONNECT`` with
``headers: true``, one ``SUB``, ``PUB``, answering ``PING`` - on plain sockets used directly
by the calling thread (no hop to the asyncio loop), and pools the connections.

Reads only: every write, and every read the write path makes, stays on the nats-py connection.
(Single-event saves published this way from each writer thread were tried and measured no
faster: per-thread blocking send/recv pays more syscalls and GIL hand-offs per save than the
loop, which writes and reads many saves per syscall.)
Only plain-TCP servers are spoken to, with user/password or token auth from the URL; anything
else (TLS, nkeys, JWT) raises :class:`WireUnsupported` and the caller keeps using nats-py.

Each message (header block bytes, payload bytes) goes through a caller's ``convert`` as it
arrives; :func:`parse_headers` decodes a header block exactly as nats-py 2.16 does, and
:func:`header_value` picks one value from it (the last occurrence, as in nats-py's dict)
without building the dict.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

_CRLF = b"\r\n"
_STATUS_LINE = b"NATS/1.0 "  # a status frame: "NATS/1.0 204 EOB\r\n..."
_RECV = 1 << 16  # below malloc's mmap threshold: a 256 KiB recv buffer costs ~20 us a call
_IDLE_SECONDS = 30.0  # a pooled connection idle longer is replaced (server pings every 2 min)
_POOL = 32  # idle connections kept: one per concurrently reading thread

Frame = tuple[bytes, bytes]  # (header block incl. "NATS/1.0\r\n" and the final blank line, data)
T = TypeVar("T")


def as_frame(header: bytes, data: bytes) -> Frame:
    return header, data


class WireUnsupported(RuntimeError):
    """The server or URL needs something this client does not speak (TLS, nkeys, ...)."""


class WireError(RuntimeError):
    """The server broke the protocol, refused us or cannot be reached."""


class DirectGetFailed(RuntimeError):
    """The Direct Get API answered with an error status (e.g. 408 bad request, 503)."""

    def __init__(self, status: str, description: str) -> None:
        super().__init__(f"direct get failed: {status} {description}")
        self.status = status
        self.description = description


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    user: str = ""
    password: str = ""
    token: str = ""


def parse_urls(url: str) -> list[Endpoint]:
    """``nats://[user:pass@|token@]host:port`` entries, comma separated (as nats-py takes them)."""
    endpoints: list[Endpoint] = []
    for raw in url.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if "://" not in raw:
            raw = "nats://" + raw
        parts = urlsplit(raw)
        if parts.scheme not in ("nats", ""):
            raise WireUnsupported(f"scheme {parts.scheme!r} is not plain NATS")
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
        token = ""
        if user and parts.password is None:
            token, user = user, ""
        endpoints.append(
            Endpoint(parts.hostname or "127.0.0.1", parts.port or 4222, user, password, token)
        )
    if not endpoints:
        raise WireUnsupported("no server URL")
    return endpoints


@dataclass(slots=True)
class Reply(Generic[T]):
    items: list[T]  # what ``convert`` made of each message (None results left out)
    messages: int  # how many messages arrived
    last_header: bytes  # header block of the last message (b"" if none)
    status: bytes = b""  # b"" (single message), b"204" (end of batch), b"404" (nothing matched)
    num_pending: int | None = None  # from the end-of-batch frame: matching messages not sent


class _Connection:
    def __init__(self, endpoint: Endpoint, *, name: str, timeout: float) -> None:
        self.sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
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
            if info.get("tls_required") or not info.get("headers", False):
                raise WireUnsupported("server requires TLS or lacks header support")
            if info.get("auth_required") and not (
                endpoint.user or endpoint.token
            ):  # nkeys / JWT: leave it to nats-py
                raise WireUnsupported("server requires authentication this client lacks")
            connect: dict[str, Any] = {
                "verbose": False,
                "pedantic": False,
                "headers": True,
                "no_responders": True,
                "protocol": 1,
                "echo": False,
                "lang": "python3",
                "version": "sportcast-wire-1",
                "name": name,
            }
            if endpoint.user:
                connect["user"], connect["pass"] = endpoint.user, endpoint.password
            if endpoint.token:
                connect["auth_token"] = endpoint.token
            self.sock.sendall(
                b"CONNECT "
                + json.dumps(connect).encode()
                + b"\r\nSUB "
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
            self.sock.close()

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
            nl = self.buf.find(_CRLF, self.pos)
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
        self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (api, reply_to, len(payload), payload))
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
                nl = buf.find(_CRLF, pos)
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
                    if buf.startswith(_STATUS_LINE, start):
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


class WireClient:
    """A pool of minimal NATS connections for Direct Get reads of one stream.

    Thread-safe: each call takes an idle connection (or opens one) and gives it back after a
    clean exchange; a connection that saw any error is closed instead.
    """

    def __init__(self, url: str, stream: str, *, name: str = "sportcast-eventstore-reads") -> None:
        self._endpoints = parse_urls(url)
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
        for attempt in range(2):
            conn, reused = self._take(wait)
            try:
                reply = conn.request(self._api, payload, convert, wait=wait, single=single)
            except ConnectionError as exc:
                conn.close()
                if attempt == 0 and reused:
                    continue  # a pooled connection the server dropped: once more, on a new one
                raise WireError(f"connection lost: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            self._give_back(conn)
            return reply
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
                return _Connection(endpoint, name=self._name, timeout=min(wait, 5.0))
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


def parse_headers(header: bytes) -> dict[str, str]:
    """A header block as nats-py 2.16 decodes it (``Msg.headers``), status line included."""
    lines = header.split(_CRLF)
    out: dict[str, str] = {}
    first = lines[0]
    if first.startswith(_STATUS_LINE):
        status = first[9:12].strip().decode()
        if status.isdigit():
            out["Status"] = status
        description = first[13:]
        if description:
            out["Description"] = description.decode()
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if any(c.isspace() for c in key):
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


def header_value(header: bytes, name: bytes) -> bytes | None:
    """The (last) value of header ``name``, stripped, as bytes; None if absent."""
    key = b"\r\n" + name + b":"
    i = header.rfind(key)
    if i < 0:
        return None
    i += len(key)
    return header[i : header.find(_CRLF, i)].strip()
