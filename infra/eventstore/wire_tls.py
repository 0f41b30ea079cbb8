"""TLS for our read connections (wire.py) that decrypts every record one read brought in.

nats-server writes about one TLS record per delivered message, and ``SSLSocket.recv`` returns
the data of one record per call (OpenSSL reads record by record from the socket, two system
calls each): a batch read of a thousand messages cost a thousand ``recv`` round trips through
Python, and our reads under TLS ran about 3.5x slower than plain (issue 12's closing note).
Here the socket is read raw, as much as the kernel holds (one system call), and the bytes are
fed to an ``ssl.SSLObject`` through memory BIOs, which then gives up every complete record
without touching the socket again.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

_RAW = 1 << 18  # bytes read from the socket at once (several hundred small records)


class BufferedTls:
    """The subset of a socket the read connection uses: ``recv``, ``sendall``, ``settimeout``,
    ``close``. ``recv`` returns all the application data that the bytes read so far decrypt to
    (at least one record's worth, unless the peer closed)."""

    def __init__(
        self, sock: socket.socket, context: ssl.SSLContext, *, server_hostname: str, deadline: float
    ) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
                if not self._read_raw():
                    raise ConnectionResetError("NATS closed the connection during TLS") from None
        self._flush()

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._sock.sendall(pending)

    def _read_raw(self) -> bool:
        data = self._sock.recv(_RAW)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    def recv(self, size: int) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while True:
            try:
                while got < size:
                    chunk = self._tls.read(size - got)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    got += len(chunk)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:  # the peer closed TLS
                break
            if self._outgoing.pending:
                self._flush()  # post-handshake messages (e.g. a key update) to answer
            if chunks or self._incoming.eof:
                break
            if not self._read_raw():
                continue  # decrypt what is left before reporting the close
        return b"".join(chunks)

    def sendall(self, data: bytes) -> None:
        self._tls.write(data)
        self._flush()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self._sock.setsockopt(level, option, value)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
