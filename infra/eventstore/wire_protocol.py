"""The pieces of the NATS protocol both our own connections speak (wire.py, wire_publish.py).

Server URLs as nats-py takes them, when to start TLS, the ``CONNECT`` answer to a server's
``INFO`` with the credentials of :mod:`infra.eventstore.security`, and header
blocks: :func:`parse_headers` decodes one exactly as nats-py 2.16 does, :func:`header_value`
picks one value (the last occurrence, as in nats-py's dict) without building the dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from infra.eventstore.security import NatsSecurity

CRLF = b"\r\n"
STATUS_LINE = b"NATS/1.0 "  # a status frame: "NATS/1.0 204 EOB\r\n..."


class WireUnsupported(RuntimeError):
    """The server or URL needs something this client does not speak (websockets, no headers)."""


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
    tls: bool = False  # a ``tls://`` URL: TLS whatever the server's INFO says


def parse_urls(url: str) -> list[Endpoint]:
    """``nats|tls://[user:pass@|token@]host:port`` entries, comma separated (as nats-py takes
    them)."""
    endpoints: list[Endpoint] = []
    for raw in url.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if "://" not in raw:
            raw = "nats://" + raw
        parts = urlsplit(raw)
        if parts.scheme not in ("nats", "tls", ""):
            raise WireUnsupported(f"scheme {parts.scheme!r} is not the NATS protocol over TCP")
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
        token = ""
        if user and parts.password is None:
            token, user = user, ""
        endpoints.append(
            Endpoint(
                parts.hostname or "127.0.0.1",
                parts.port or 4222,
                user,
                password,
                token,
                tls=parts.scheme == "tls",
            )
        )
    if not endpoints:
        raise WireUnsupported("no server URL")
    return endpoints


def needs_tls(endpoint: Endpoint, info: dict[str, Any], security: NatsSecurity) -> bool:
    """Whether to wrap the socket in TLS after the server's ``INFO`` (as nats-py decides)."""
    return bool(endpoint.tls or info.get("tls_required") or security.wants_tls())


def connect_command(
    endpoint: Endpoint, info: dict[str, Any], *, name: str, security: NatsSecurity
) -> bytes:
    """The ``CONNECT`` line answering a server's ``INFO`` (WireUnsupported if we cannot)."""
    if not info.get("headers", False):
        raise WireUnsupported("the server lacks header support")
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
    connect.update(security.connect_fields(info))  # TLS is already up: secrets go encrypted
    return b"CONNECT " + json.dumps(connect).encode() + CRLF


def parse_headers(header: bytes) -> dict[str, str]:
    """A header block as nats-py 2.16 decodes it (``Msg.headers``), status line included."""
    lines = header.split(CRLF)
    out: dict[str, str] = {}
    first = lines[0]
    if first.startswith(STATUS_LINE):
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
    return header[i : header.find(CRLF, i)].strip()
