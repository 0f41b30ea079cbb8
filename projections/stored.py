"""Stored event states read as the JSON the transcoder wrote, decoding only the fields a
projection needs (no domain event objects; docs/adr/0015).

eventsourcing's JSONTranscoder writes a value of a registered type as
``{"_type_": name, "_data_": data}``; the few names read here are decoded exactly as the
transcodings would. The composition root checks the mapper writes plain JSON (no cipher, no
compressor) before using projections that read states this way.

States are parsed by orjson, ~3x faster than the json module's C scanner (docs/adr/0033), and
give the same values, save where orjson parses differently: it refuses NaN, Infinity, numbers
out of float range and lone surrogate escapes (the json module reads them; so does the
fallback here), and it reads an integer beyond 64 bits as a float. That last one is silent, so
a state with a run of 19 or more digits after ``:``, ``,`` or ``[`` (a possible integer of
2**63 or more) goes to the json module too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

_decode = json.JSONDecoder().decode  # the C scanner alone: no hook per JSON object
_parse = orjson.loads
_ParseError = orjson.JSONDecodeError
# Digits to "0"; what may come before a number (",:[", whitespace, a minus sign) to ":".
_NUMBERS = bytes(
    ord("0") if c in b"0123456789" else ord(":") if c in b",:[ \t\n\r-" else c for c in range(256)
)
_DIGITS_19 = b"0" * 19
_LONG_INTEGER = b":" + _DIGITS_19


class UnreadableState(ValueError):
    """A stored state without the fields or encodings the projection reads."""


def parsed(raw: bytes) -> Any:
    """``raw`` as the json module's decoder reads it (without hooks), parsed by orjson where
    that gives the same values."""
    numbers = raw.translate(_NUMBERS)
    if _LONG_INTEGER in numbers or numbers.startswith(_DIGITS_19):
        return _decode(raw.decode("utf8"))
    try:
        return _parse(raw)
    except _ParseError:
        return _decode(raw.decode("utf8"))


def state_of(raw: bytes) -> dict[str, Any]:
    state = parsed(raw)
    if type(state) is not dict:
        raise UnreadableState(f"a stored state is a JSON object, got {type(state).__name__}")
    return state


def encoded(value: Any, name: str) -> Any:
    """The data of a value the transcoder wrote as {"_type_": name, "_data_": data}."""
    if type(value) is not dict or value.get("_type_") != name or "_data_" not in value:
        raise UnreadableState(f"expected an encoded {name}, got {value!r}")
    return value["_data_"]


def moment(value: Any) -> datetime:
    return datetime.fromisoformat(encoded(value, "datetime_iso"))


def optional_moment(value: Any) -> datetime | None:
    return None if value is None else moment(value)


def uuid(value: Any) -> UUID:
    return UUID(encoded(value, "uuid_hex"))


def score(value: Any) -> tuple[int, int]:
    home, away = encoded(value, "score")
    return int(home), int(away)


def as_uuid(originator_id: UUID | str) -> UUID:
    return originator_id if type(originator_id) is UUID else UUID(str(originator_id))
