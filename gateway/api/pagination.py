"""Cursor pagination: a page lists items after an opaque cursor, in a unique order, so that
rows arriving meanwhile never make a page repeat or skip one."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from gateway.problems import Problem

T = TypeVar("T")

LimitParam = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
CursorParam = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; omit for the first.")
]


class InvalidCursor(Problem):
    status = 400
    code = "invalid-cursor"
    title = "The cursor cannot be read"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> list[Any]:
    """The values ``encode_cursor(kind, ...)`` packed; 400 ``invalid-cursor`` for anything else
    (a cursor of another listing included)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"cursor {cursor!r} is not one this API gave out") from exc
    if not isinstance(decoded, list) or not decoded or decoded[0] != kind:
        raise InvalidCursor(f"cursor {cursor!r} does not belong to this listing")
    return decoded[1:]


def read_cursor(cursor: str | None, kind: str, parse: Callable[..., T]) -> T | None:
    """``parse(*values)`` of a cursor of this listing, None without one; a cursor whose values
    do not parse is ``invalid-cursor`` too."""
    if cursor is None:
        return None
    values = decode_cursor(cursor, kind)
    try:
        return parse(*values)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor(f"cursor {cursor!r} is damaged: {exc}") from exc
