"""What a feed request body may be before it is parsed: JSON, and at most ``MAX_PAYLOAD_BYTES``.

A declared ``Content-Length`` over the limit is refused before a byte is read; a body without
one (chunked) is read only up to the limit. A body that is too large is not kept in the
quarantine: keeping it would mean reading it (docs/adr/0023).
"""

from __future__ import annotations

from fastapi import Request

from gateway.problems import Problem

MAX_PAYLOAD_BYTES = 256 * 1024


class PayloadTooLarge(Problem):
    status = 413
    code = "payload-too-large"
    title = "The payload is too large"


class UnsupportedMediaType(Problem):
    status = 415
    code = "unsupported-media-type"
    title = "Feed payloads are JSON"


def check_declared_length(request: Request, limit: int = MAX_PAYLOAD_BYTES) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isascii() or not declared.isdigit():
        raise PayloadTooLarge(f"Content-Length {declared[:40]!r} is not a byte count")
    if int(declared) > limit:
        raise PayloadTooLarge(f"{declared} bytes declared; the limit is {limit}")


async def read_limited(request: Request, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The body, read only up to ``limit`` bytes (a longer one is refused there)."""
    check_declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"more than {limit} bytes sent; the limit is {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters allowed."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
