"""Bounds of every field a feed may send (docs/adr/0023): names short and printable, prices
ASCII, integers within what a match can hold. Anything else is a 422 before the domain sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

MAX_NAME = 200
"""Teams, competitions, seasons, venues, players, bookmakers."""
MAX_TEXT = 2000
"""Free text: a postponement or correction reason."""
MAX_ID = 200
"""A provider's own message id."""
MAX_PRICE = 32
"""A raw price: ``1000.00``, ``100/1``, ``+10000`` with room to spare; never 5,000 digits."""
MAX_POINTS = 999
"""Goals or points of one side: basketball's record is under 200."""
MAX_PERIOD = 20
"""Halves, quarters, extra time and overtimes: basketball's longest game had six overtimes."""


def _printable(value: str) -> str:
    # isprintable() refuses control, format and separator characters (NUL, newlines, BOM...)
    # but keeps letters of every script and the plain space.
    if not value.isprintable():
        raise ValueError("must hold printable characters only (no control characters)")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _ascii_price(value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise ValueError("a price is written in ASCII (digits 0-9, '.', '/', '+', '-')")
    return value


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_printable)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_printable)]
EventId = Annotated[str, Field(min_length=1, max_length=MAX_ID), AfterValidator(_printable)]
RawPrice = Annotated[str, Field(min_length=1, max_length=MAX_PRICE), AfterValidator(_ascii_price)]
Points = Annotated[int, Field(ge=0, le=MAX_POINTS)]
Period = Annotated[int, Field(ge=1, le=MAX_PERIOD)]
