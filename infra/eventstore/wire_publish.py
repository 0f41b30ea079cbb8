"""Acknowledged publishes over a minimal asyncio NATS connection of our own (the write path).

nats-py spends tens of microseconds of loop-thread Python on each publish and each
acknowledgement: header validation (a regex per key), its parser, a ``Msg``, a subscription
queue and a task per reply. With many writer threads that capped single-event saves near half
of raw nats-py. This connection writes pre-encoded ``HPUB`` frames - all those queued in one
loop iteration in one write - and reads the acknowledgements (``MSG`` frames on one inbox) with
a tight parser that hands each reply to its waiter's callback, with no task or future.

It speaks what wire.py's reader speaks (TLS started after the server's ``INFO``, credentials of
security.py); while it reconnects, publishes go through nats-py as before. A lost
connection fails every waiting publish with :class:`PublishConnectionLost`; like a timeout, that
means "stored or not" and append.py resolves it as for any unanswered publish. Waits are checked
by one sweep every 50 ms rather than a timer per publish; a connection that has answered
nothing for two seconds while publishes wait is asked for a ``PONG`` and dropped without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from infra.eventstore.denials import Denials
from infra.eventstore.security import NatsSecurity
from infra.eventstore.wire_protocol import (
    Endpoint,
    WireError,
    WireUnsupported,
    connect_command,
    needs_tls,
    parse_urls,
)

log = logging.getLogger("sportcast.eventstore")

OnReply = Callable[[bytes | None, BaseException | None], None]

_CRLF = b"\r\n"
_SWEEP_SECONDS = 0.05
_SILENT_SECONDS = 2.0  # no bytes while publishes wait: ping; no pong as long again: drop
_RECONNECT_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0)


class PublishConnectionLost(ConnectionError):
    """The connection closed while a publish waited: it may or may not have been stored."""


class NoResponders(ConnectionError):
    """Nothing listens on the subject (no stream, or no leader yet): nothing was stored."""


class PayloadTooLarge(ValueError):
    """The message exceeds the server's max_payload (checked before sending)."""


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: WirePublisher) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.info: asyncio.Future[dict[str, Any]] = owner.loop.create_future()
        self.pong: asyncio.Future[None] = owner.loop.create_future()
        self.handshaken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_handshake(WireError(f"connection closed: {exc}"))
        self.owner._lost(self, exc)

    def _fail_handshake(self, error: WireError) -> None:
        """Fail the handshake's steps still waiting. Whoever awaits one gets the error; one
        nobody awaits any more (the handshake gave up at an earlier step) is marked as seen,
        else asyncio reports "Future exception was never retrieved" when it is collected."""
        for future in (self.info, self.pong):
            if not future.done():
                future.set_exception(error)
                future.exception()

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        owner.last_heard = owner.loop.time()
        buf = self.buf + data if self.buf else data
        size = len(buf)
        pos = 0
        waiting = owner.waiting
        skip = owner.reply_prefix_len
        try:
            while True:
                nl = buf.find(_CRLF, pos)
                if nl < 0:
                    break
                if buf.startswith(b"MSG ", pos):
                    # MSG <subject> <sid> <size>: an acknowledgement on our inbox
                    sp1 = buf.find(b" ", pos + 4, nl)
                    start = nl + 2
                    end = start + int(buf[buf.rfind(b" ", pos, nl) + 1 : nl])
                    if end + 2 > size:
                        break
                    waiter = waiting.pop(buf[pos + 4 + skip : sp1], None)
                    pos = end + 2
                    if waiter is not None:
                        _deliver(waiter[1], buf[start:end], None)
                    continue
                if buf.startswith(b"HMSG ", pos):
                    # HMSG <subject> <sid> <hsize> <tsize>: a status reply (503 no responders)
                    parts = buf[pos:nl].split()
                    start = nl + 2
                    end = start + int(parts[-1])
                    if end + 2 > size:
                        break
                    header = buf[start : start + int(parts[-2])]
                    waiter = waiting.pop(parts[1][skip:], None)
                    pos = end + 2
                    if waiter is not None:
                        if header.startswith(b"NATS/1.0 503"):
                            _deliver(waiter[1], None, NoResponders("no responders"))
                        else:
                            _deliver(waiter[1], buf[start + len(header) : end], None)
                    continue
                line = buf[pos:nl]
                pos = nl + 2
                if line == b"PING":
                    assert self.transport is not None
                    self.transport.write(b"PONG\r\n")
                elif line == b"PONG":
                    owner.ping_sent = None
                    if not self.pong.done():
                        self.pong.set_result(None)
                elif line.startswith(b"INFO ") and not self.info.done():
                    self.info.set_result(json.loads(line[5:]))
                elif line.startswith(b"-ERR"):
                    if owner.denials.note(line.decode(errors="replace")) is not None:
                        continue  # a publish outside this user's subjects: its save times out
                    log.warning(
                        "NATS refused the publish connection: %s", line.decode(errors="replace")
                    )
                    self._fail_handshake(WireError(line.decode(errors="replace")))
        finally:
            self.buf = buf[pos:]


class WirePublisher:
    """One publish connection, owned by the event store's loop (every method runs on it)."""

    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        *,
        security: NatsSecurity | None = None,
        denials: Denials | None = None,
        name: str = "sportcast-eventstore-writes",
    ) -> None:
        self.denials = denials or Denials()
        self._endpoints: list[Endpoint] = parse_urls(url)  # WireUnsupported: not for us
        self._security = security or NatsSecurity()
        self.loop = loop
        self._name = name
        self._next = secrets.randbelow(len(self._endpoints))
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False
        self._unsupported = False
        self._inbox = f"_INBOX.wp{secrets.token_hex(12)}."
        self.reply_prefix_len = len(self._inbox)
        self._token = 0
        self.waiting: dict[bytes, tuple[float, OnReply]] = {}
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._sweeping: asyncio.TimerHandle | None = None
        self.max_payload = 1024 * 1024
        self.last_heard = 0.0
        self.ping_sent: float | None = None

    @property
    def ready(self) -> bool:
        """Whether publishes can go this way now (else: nats-py)."""
        return self._proto is not None

    @property
    def unsupported(self) -> bool:
        return self._unsupported

    # -- connecting -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (again after a loss); publishes use nats-py meanwhile."""
        if self._closed or self._unsupported or self._proto is not None:
            return
        if self._connecting is None or self._connecting.done():
            self._connecting = self.loop.create_task(self._connect_until_up())

    async def connect(self, *, each: float = 5.0) -> None:
        """Connect now (raises WireError / WireUnsupported / OSError)."""
        errors: list[str] = []
        for i in range(len(self._endpoints)):
            endpoint = self._endpoints[(self._next + i) % len(self._endpoints)]
            try:
                await asyncio.wait_for(self._open(endpoint), each)
                self._next = (self._next + i) % len(self._endpoints)
                return
            except WireUnsupported:
                self._unsupported = True
                raise
            except (TimeoutError, OSError, WireError) as exc:
                errors.append(f"{endpoint.host}:{endpoint.port} {exc!r}")
        self._next = (self._next + 1) % len(self._endpoints)
        raise WireError("cannot reach any NATS server: " + "; ".join(errors))

    async def _connect_until_up(self) -> None:
        attempt = 0
        while not self._closed and self._proto is None:
            try:
                await self.connect()
            except WireUnsupported as exc:
                log.info("publishing through nats-py: %s", exc)
                return
            except WireError:
                await asyncio.sleep(_RECONNECT_SECONDS[min(attempt, len(_RECONNECT_SECONDS) - 1)])
                attempt += 1

    async def _open(self, endpoint: Endpoint) -> None:
        transport, proto = await self.loop.create_connection(
            lambda: _Protocol(self), endpoint.host, endpoint.port
        )
        try:
            info = await proto.info
            if needs_tls(endpoint, info, self._security):
                upgraded = await self.loop.start_tls(
                    transport,
                    proto,
                    self._security.ssl_context(),
                    server_hostname=endpoint.host,
                )
                if upgraded is None:
                    raise WireError("TLS could not be started on the publish connection")
                transport = upgraded
                proto.transport = upgraded
            transport.write(
                connect_command(endpoint, info, name=self._name, security=self._security)
                + b"SUB "
                + self._inbox.encode()
                + b"* 1\r\nPING\r\n"
            )
            await proto.pong
        except BaseException:
            transport.abort()
            raise
        self.max_payload = int(info.get("max_payload", self.max_payload))
        self.last_heard = self.loop.time()
        self.ping_sent = None
        proto.handshaken = True
        self._proto = proto
        if self._out and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if proto is not self._proto:
            return  # a handshake that failed: connect() reports it
        self._proto = None
        self._out.clear()
        waiting, self.waiting = self.waiting, {}
        error = PublishConnectionLost(f"NATS publish connection lost: {exc}")
        for _deadline, on_reply in waiting.values():
            _deliver(on_reply, None, error)
        if not self._closed:
            self.start()

    def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        proto = self._proto
        if proto is not None and proto.transport is not None:
            proto.transport.abort()  # connection_lost fails whatever still waits

    # -- publishing -----------------------------------------------------------------------

    def publish(self, subject: str, header: bytes, data: bytes) -> None:
        """Queue a message without a reply (a non-final part of an atomic batch)."""
        self._queue(subject.encode(), b"", header, data)

    def publish_many(self, messages: list[tuple[str, bytes, bytes]]) -> None:
        """Queue (subject, header, data) messages without replies, in order."""
        if self._proto is None:
            raise PublishConnectionLost("the NATS publish connection is not up")
        limit = self.max_payload
        out = self._out
        for subject, header, data in messages:
            total = len(header) + len(data)
            if total > limit:
                raise PayloadTooLarge(f"{total} bytes; the server accepts at most {limit}")
            out += (
                b"HPUB %s %d %d\r\n" % (subject.encode(), len(header), total),
                header,
                data,
                _CRLF,
            )
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def request(
        self, subject: str, header: bytes, data: bytes, *, wait: float, on_reply: OnReply
    ) -> None:
        """Queue a message whose acknowledgement (or error) goes to ``on_reply`` once."""
        self._token += 1
        token = b"%d" % self._token
        self._queue(subject.encode(), self._inbox.encode() + token, header, data)
        self.waiting[token] = (self.loop.time() + wait, on_reply)
        if self._sweeping is None:
            self._sweeping = self.loop.call_later(_SWEEP_SECONDS, self._sweep)

    async def ask(self, subject: str, header: bytes, data: bytes, *, wait: float) -> bytes:
        """:meth:`request` as a coroutine: the reply's payload."""
        future: asyncio.Future[bytes] = self.loop.create_future()

        def settle(reply: bytes | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                assert reply is not None
                future.set_result(reply)

        self.request(subject, header, data, wait=wait, on_reply=settle)
        return await future

    def _queue(self, subject: bytes, reply: bytes, header: bytes, data: bytes) -> None:
        if self._proto is None:
            raise PublishConnectionLost("the NATS publish connection is not up")
        total = len(header) + len(data)
        if total > self.max_payload:
            raise PayloadTooLarge(f"{total} bytes; the server accepts at most {self.max_payload}")
        if reply:
            line = b"HPUB %s %s %d %d\r\n" % (subject, reply, len(header), total)
        else:
            line = b"HPUB %s %d %d\r\n" % (subject, len(header), total)
        self._out += (line, header, data, _CRLF)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        proto = self._proto
        if proto is None or proto.transport is None or not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        proto.transport.write(data)

    def _sweep(self) -> None:
        self._sweeping = None
        waiting = self.waiting
        if not waiting:
            return
        now = self.loop.time()
        expired: list[bytes] = []
        # Insertion order is deadline order when every publish waits as long (ours do).
        for token, (deadline, _on_reply) in waiting.items():
            if deadline > now:
                break
            expired.append(token)
        for token in expired:
            waiter = waiting.pop(token, None)
            if waiter is not None:
                _deliver(waiter[1], None, TimeoutError())
        self._check_alive(now)
        if self.waiting and self._sweeping is None:
            self._sweeping = self.loop.call_later(_SWEEP_SECONDS, self._sweep)

    def _check_alive(self, now: float) -> None:
        proto = self._proto
        if proto is None or proto.transport is None or not self.waiting:
            return
        if self.ping_sent is not None:
            if now - self.ping_sent > _SILENT_SECONDS:
                log.warning("NATS publish connection silent; reconnecting")
                with contextlib.suppress(Exception):
                    proto.transport.abort()
        elif now - self.last_heard > _SILENT_SECONDS:
            self.ping_sent = now
            proto.transport.write(b"PING\r\n")


def _deliver(on_reply: OnReply, reply: bytes | None, error: BaseException | None) -> None:
    """Hand a waiter its answer; a failing callback must not stop the others' answers."""
    try:
        on_reply(reply, error)
    except Exception:
        log.exception("a publish acknowledgement's callback failed")
